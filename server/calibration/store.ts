/**
 * Calibration records: every calibration of every unit, never overwritten.
 *
 * Keys (this module owns them):
 *   ["calibration", unitId, seq]        -> CalibrationEntry  (seq = 1, 2, ...; append-only)
 *   ["calibration_seq", unitId]         -> number            (last seq, same atomic commit)
 *   ["calibration_by_chip", chip, unitId, seq] -> true       (which units of a chip were calibrated)
 *
 * A record holds what a later reader needs to trust or redo it: the reference
 * load as the trusted meter read it, the chip's raw readings, old and new
 * factors, the error before and after, who, when and on which bench host. A
 * "deployed" record is a calibration sent to a running OpenBeken unit as
 * VoltageSet/CurrentSet/PowerSet: the unit computes its own factors from its
 * own raw values, so only the reference and the commands are known.
 */
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import { DomainError } from "../http/errors.ts";
import { z } from "zod";
import {
  calibrate,
  CHIP_CAL_KIND,
  errorPct,
  openBekenCalibrationCommands,
  type Triple,
} from "../../shared/meterchips/calibration.ts";

const triple = z.object({ voltage: z.number().finite(), current: z.number().finite(), power: z.number().finite() })
  .strict();

export const benchCalibrationInput = z.object({
  chip: z.string().refine((c) => c in CHIP_CAL_KIND, "chip must be one of " + Object.keys(CHIP_CAL_KIND).join(", ")),
  reference: triple,
  raw: triple,
  oldFactors: triple,
  by: z.string().trim().min(1).max(60),
  benchHost: z.string().trim().max(80).optional(),
  note: z.string().max(500).optional(),
}).strict();

export const deployedCalibrationInput = z.object({
  reference: triple,
  by: z.string().trim().min(1).max(60),
  note: z.string().max(500).optional(),
}).strict();

export interface CalibrationEntry {
  unitId: string;
  seq: number;
  at: number;
  by: string;
  mode: "bench" | "deployed";
  chip: string | null;
  benchHost: string | null;
  reference: Triple;
  raw: Triple | null;
  oldFactors: Triple | null;
  factors: Triple | null;
  kind: "divide" | "multiply" | null;
  errorBeforePct: Triple | null;
  errorAfterPct: Triple | null;
  /** for deployed units: the console commands sent over MQTT, and the topic */
  commands: string[];
  topic: string | null;
  note: string;
  /**
   * Deployed units: the unit's readings just before the commands and the next full reading after them
   * (OpenBeken computes its own factors from its raw values, so readings are what can be checked).
   */
  readingsBefore?: Triple | null;
  readingsAfter?: Triple | null;
  /** the readings after agree with the reference (within CALIBRATION_TOLERANCE_PCT); null = no reading came */
  verified?: boolean | null;
}

/** How close the next readings must come to the reference for a deployed calibration to count as verified. */
export const CALIBRATION_TOLERANCE_PCT = 2;

export class CalibrationInputError extends DomainError {
  constructor(message: string) {
    super("invalid", message);
  }
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new CalibrationInputError(
      r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
    );
  }
  return r.data;
}

async function append(kv: Deno.Kv, unitId: string, make: (seq: number) => CalibrationEntry): Promise<CalibrationEntry> {
  return await untilCommitted(`calibration of ${unitId}`, async () => {
    const last = await kv.get<number>(["calibration_seq", unitId]);
    const seq = (last.value ?? 0) + 1;
    const e = make(seq);
    const op = kv.atomic()
      .check(last)
      .set(["calibration", unitId, seq], e)
      .set(["calibration_seq", unitId], seq);
    if (e.chip) op.set(["calibration_by_chip", e.chip, unitId, seq], true);
    return (await op.commit()).ok ? e : CONFLICT;
  });
}

/** A bench calibration: the server recomputes factors and errors from the raw values, so the record is consistent. */
export function recordBenchCalibration(
  kv: Deno.Kv,
  unitId: string,
  input: unknown,
  now: number,
): Promise<CalibrationEntry> {
  const b = parse(benchCalibrationInput, input);
  const r = calibrate(b.chip, b.reference, b.raw, b.oldFactors);
  return append(kv, unitId, (seq) => ({
    unitId,
    seq,
    at: now,
    by: b.by,
    mode: "bench",
    chip: b.chip,
    benchHost: b.benchHost ?? null,
    reference: b.reference,
    raw: b.raw,
    oldFactors: b.oldFactors,
    factors: r.factors,
    kind: r.kind,
    errorBeforePct: r.before.errorPct,
    errorAfterPct: r.after.errorPct,
    commands: [],
    topic: null,
    note: b.note ?? "",
  }));
}

/** A calibration applied to a deployed OpenBeken unit: returns the record with the commands to publish. */
export function parseDeployedCalibration(input: unknown) {
  return parse(deployedCalibrationInput, input);
}

export function recordDeployedCalibration(
  kv: Deno.Kv,
  unitId: string,
  input: unknown,
  unit: { topic: string; chip: string | null },
  now: number,
  checked?: { before: Triple | null; after: Triple | null },
): Promise<CalibrationEntry> {
  const d = parse(deployedCalibrationInput, input);
  const err = (r: Triple | null | undefined) =>
    r
      ? {
        voltage: errorPct(r.voltage, d.reference.voltage),
        current: errorPct(r.current, d.reference.current),
        power: errorPct(r.power, d.reference.power),
      }
      : null;
  const afterErr = err(checked?.after);
  return append(kv, unitId, (seq) => ({
    unitId,
    seq,
    at: now,
    by: d.by,
    mode: "deployed",
    chip: unit.chip,
    benchHost: null,
    reference: d.reference,
    raw: null,
    oldFactors: null,
    factors: null,
    kind: unit.chip ? CHIP_CAL_KIND[unit.chip] ?? null : null,
    errorBeforePct: err(checked?.before),
    errorAfterPct: afterErr,
    commands: openBekenCalibrationCommands(d.reference),
    topic: unit.topic,
    note: d.note ?? "",
    ...(checked
      ? {
        readingsBefore: checked.before,
        readingsAfter: checked.after,
        verified: afterErr ? Object.values(afterErr).every((e) => Math.abs(e) <= CALIBRATION_TOLERANCE_PCT) : null,
      }
      : {}),
  }));
}

/** Full history, oldest first. */
export async function calibrationHistory(kv: Deno.Kv, unitId: string): Promise<CalibrationEntry[]> {
  const out: CalibrationEntry[] = [];
  for await (const e of kv.list<CalibrationEntry>({ prefix: ["calibration", unitId] })) out.push(e.value);
  return out;
}

export async function latestCalibration(kv: Deno.Kv, unitId: string): Promise<CalibrationEntry | null> {
  for await (const e of kv.list<CalibrationEntry>({ prefix: ["calibration", unitId] }, { reverse: true, limit: 1 })) {
    return e.value;
  }
  return null;
}

export async function unitsCalibratedWithChip(kv: Deno.Kv, chip: string): Promise<string[]> {
  const ids = new Set<string>();
  for await (const e of kv.list({ prefix: ["calibration_by_chip", chip] })) ids.add(e.key[2] as string);
  return [...ids];
}
