/**
 * `deno task decode tuyamcu|bl0942|cse7766|rn8209|ht7017|bl6552 <hex or file> [--power-unit W]
 *   [--cal V,I,P | --profile <id>]`
 *
 * Metering chips print volts, amps and watts (`values`) with the calibration named in each line:
 * `--cal` factors, a profile's factors, or by default the built-in profile measured for that chip
 * (shared/meterchips/engineering.ts), else the chip's uncalibrated defaults. TuyaMCU raw power is
 * 1 W per count unless `--power-unit` says otherwise (OpenBeken's own decoding).
 *
 * Prints one JSON object per frame. Exits 1 when any frame could not be
 * decoded (bad checksum, truncated frame or datapoint), 2 on bad usage.
 */
import { parseArgs } from "node:util";
import { TuyaFrameParser } from "../shared/tuyamcu/frame.ts";
import { DEFAULT_POWER_UNIT_W } from "../shared/tuyamcu/raw_power.ts";
import { toHex } from "../shared/tuyamcu/dp.ts";
import { Bl0942Parser, bl0942Values } from "../shared/meterchips/bl0942.ts";
import { Cse7766Parser, cse7766Raw, cse7766Values } from "../shared/meterchips/cse7766.ts";
import {
  type Calibration,
  type ChipId,
  defaultCalibration,
  parseCalibrationArg,
  registerReading,
} from "../shared/meterchips/engineering.ts";
import { getProfile } from "../shared/profiles/mod.ts";
import { parseRegisterCapture, type RegisterChip } from "../shared/meterchips/register.ts";
import { rn8209 } from "../shared/meterchips/rn8209.ts";
import { ht7017 } from "../shared/meterchips/ht7017.ts";
import { bl6552 } from "../shared/meterchips/bl6552.ts";
import type { ChipStreamEvent } from "../shared/meterchips/bl0942.ts";
import { readCapture } from "./capture/input.ts";
import { type Described, describeTuyaEvent } from "./capture/describe.ts";

const PROTOCOLS = ["tuyamcu", "bl0942", "cse7766", "rn8209", "ht7017", "bl6552"] as const;
type Protocol = typeof PROTOCOLS[number];

const CHIP_OF: Record<Exclude<Protocol, "tuyamcu">, ChipId> = {
  bl0942: "BL0942",
  cse7766: "CSE7766",
  rn8209: "RN8209C",
  ht7017: "HT7017",
  bl6552: "BL6552",
};

export function decodeCapture(
  protocol: Protocol,
  bytes: Uint8Array,
  opts: { powerUnitW?: number; calibration?: Calibration } = {},
): { items: Described[]; noise: number } {
  const cal = protocol === "tuyamcu" ? undefined : opts.calibration ?? defaultCalibration(CHIP_OF[protocol]);
  const items: Described[] = [];
  let noise = 0;
  let offset = 0;
  const track = (raw: Uint8Array, kind: string) => {
    const at = offset;
    // errors consume one byte (resync); frames, packets and noise consume all of theirs
    offset += kind === "error" ? 1 : raw.length;
    return at;
  };
  if (protocol === "tuyamcu") {
    const p = new TuyaFrameParser();
    for (const e of [...p.push(bytes), ...p.flush()]) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") noise += e.raw.length;
      const d = describeTuyaEvent(e, at, opts.powerUnitW ?? DEFAULT_POWER_UNIT_W);
      if (d) items.push(d);
    }
  } else if (protocol === "bl0942" || protocol === "cse7766") {
    const p = protocol === "bl0942" ? new Bl0942Parser() : new Cse7766Parser();
    const evs = [...p.push(bytes), ...p.flush()] as ChipStreamEvent<unknown>[];
    for (const e of evs) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") {
        noise += e.raw.length;
        continue;
      }
      if (e.kind === "error") {
        items.push({
          offset: at,
          ok: false,
          checksumOk: e.error.code === "bad_checksum" ? false : undefined,
          error: `${e.error.code}: ${e.error.message}`,
          raw: toHex(e.raw),
        });
        continue;
      }
      // deno-lint-ignore no-explicit-any
      const pk = e.packet as any;
      const values = protocol === "bl0942" ? bl0942Values(pk, cal!.factors) : cse7766Values(pk, cal!.factors);
      const raw = protocol === "cse7766" ? cse7766Raw(pk) : undefined;
      items.push({
        offset: at,
        ok: true,
        checksumOk: true,
        packet: pk,
        values: roundValues(values),
        ...(raw ? { raw } : {}),
        calibration: cal,
      });
    }
  } else {
    const chip: RegisterChip = { rn8209, ht7017, bl6552 }[protocol];
    for (const e of parseRegisterCapture(chip, bytes)) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") noise += e.raw.length;
      else if (e.kind === "error") {
        items.push({ offset: at, ok: false, error: `${e.error.code}: ${e.error.message}`, raw: toHex(e.raw) });
      } else if (e.kind === "read") {
        const reading = registerReading(
          CHIP_OF[protocol] as "RN8209C" | "HT7017" | "BL6552",
          e.value.name,
          e.value.value,
          cal!,
        );
        items.push({
          offset: at,
          ok: true,
          checksumOk: true,
          op: "read",
          register: e.value.reg,
          name: e.value.name,
          value: e.value.value,
          raw: toHex(e.raw),
          ...(reading ? { reading, calibration: cal } : {}),
        });
      } else {items.push({
          offset: at,
          ok: true,
          checksumOk: true,
          op: "write",
          register: e.reg,
          name: e.name,
          value: e.value,
          raw: toHex(e.raw),
        });}
    }
  }
  return { items, noise };
}

function roundValues(v: Record<string, number>) {
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Math.round(x * 1e4) / 1e4]));
}

if (import.meta.main) {
  const { values: args, positionals } = parseArgs({
    args: Deno.args,
    options: { "power-unit": { type: "string" }, cal: { type: "string" }, profile: { type: "string" } },
    allowPositionals: true,
  });
  const [protocol, input] = positionals;
  if (!PROTOCOLS.includes(protocol as Protocol) || !input) {
    console.error(
      `usage: deno task decode <${PROTOCOLS.join("|")}> <hex or file> [--power-unit W] [--cal V,I,P | --profile id]`,
    );
    Deno.exit(2);
  }
  let bytes: Uint8Array;
  let calibration: Calibration | undefined;
  try {
    if (args.cal) calibration = parseCalibrationArg(args.cal);
    else if (args.profile) {
      const t = getProfile(args.profile).transport;
      if (t.kind !== "chip" || !t.factors) throw new Error(`profile ${args.profile} has no chip factors`);
      calibration = { factors: t.factors, source: `profile ${args.profile}` };
    }
    const cap = await readCapture(input);
    bytes = cap.bytes;
    for (const l of cap.skippedLines) console.error(`note: skipped non-hex line: ${l.slice(0, 60)}`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const { items, noise } = decodeCapture(protocol as Protocol, bytes, {
    powerUnitW: args["power-unit"] ? Number(args["power-unit"]) : undefined,
    calibration,
  });
  let failed = 0;
  for (const it of items) {
    console.log(JSON.stringify(it));
    if (!it.ok) {
      failed++;
      console.error(`error: frame at byte ${it.offset} cannot be decoded: ${it.error}`);
    }
  }
  if (noise) console.error(`note: ${noise} byte(s) outside any frame were skipped`);
  if (!items.some((i) => i.ok)) console.error("error: no decodable frame in the input");
  Deno.exit(failed || !items.some((i) => i.ok) ? 1 : 0);
}
