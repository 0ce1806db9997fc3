/**
 * Calibration math as OpenBeken's PwrCal does it (reference/openbeken.md §5.1):
 * DIVIDE chips (BL0942, RN8209, and here HT7017/BL6552): factor = raw / real,
 * reading = raw / factor. MULTIPLY chips (BL0937, CSE7766): factor = real / raw,
 * reading = raw × factor. A raw value within ±0.001 of 0 or a real value of 0 is
 * rejected, as `VoltageSet`/`CurrentSet`/`PowerSet` reject them.
 */
import { CodecError } from "../errors.ts";
import { CHIPS } from "./registry.ts";

export type CalKind = "divide" | "multiply";
export type Quantity = "voltage" | "current" | "power";
export const QUANTITIES: Quantity[] = ["voltage", "current", "power"];
export type Triple = Record<Quantity, number>;

/**
 * Calibration rule per chip name: every registry chip (and its aliases), plus BL0937,
 * a pulse-output chip only OpenBeken reads (src/driver/drv_bl0937.c, PWR_CAL_MULTIPLY),
 * whose deployed units are calibrated through OBK's commands.
 */
export const CHIP_CAL_KIND: Record<string, CalKind> = {
  ...Object.fromEntries(
    [...CHIPS.values()].flatMap((c) => [c.name, ...(c.aliases ?? [])].map((n) => [n, c.cal])),
  ),
  BL0937: "multiply",
};

export function calKind(chip: string): CalKind {
  const k = CHIP_CAL_KIND[chip];
  if (!k) throw new CodecError("no_calibration", `chip ${chip} has no calibration rule`);
  return k;
}

export function computeFactor(kind: CalKind, raw: number, real: number, what = "value"): number {
  if (Math.abs(raw) < 0.001) {
    throw new CodecError("no_load", `Calibration incorrect - connect load first (${what} raw is 0)`);
  }
  if (real === 0 || !Number.isFinite(real)) throw new CodecError("bad_reference", `reference ${what} must be non-zero`);
  return kind === "divide" ? raw / real : real / raw;
}

export const applyFactor = (
  kind: CalKind,
  raw: number,
  factor: number,
) => (kind === "divide" ? raw / factor : raw * factor);

/** Relative error in percent of reading vs reference. */
export const errorPct = (reading: number, reference: number) => ((reading - reference) / reference) * 100;

export interface CalibrationResult {
  kind: CalKind;
  factors: Triple;
  before: { readings: Triple; errorPct: Triple };
  after: { readings: Triple; errorPct: Triple };
}

/**
 * From a reference load (trusted meter's V/A/W) and the chip's raw readings of it,
 * the new factors and the error before (with the old factors) and after.
 * All three quantities are set together: OpenBeken issue #1097 shows PF/apparent power are
 * nonsense otherwise.
 */
export function calibrate(chip: string, reference: Triple, raw: Triple, oldFactors: Triple): CalibrationResult {
  const kind = calKind(chip);
  const factors = {} as Triple, b = {} as Triple, be = {} as Triple, a = {} as Triple, ae = {} as Triple;
  for (const q of QUANTITIES) {
    factors[q] = computeFactor(kind, raw[q], reference[q], q);
    b[q] = applyFactor(kind, raw[q], oldFactors[q]);
    be[q] = errorPct(b[q], reference[q]);
    a[q] = applyFactor(kind, raw[q], factors[q]);
    ae[q] = errorPct(a[q], reference[q]);
  }
  return { kind, factors, before: { readings: b, errorPct: be }, after: { readings: a, errorPct: ae } };
}

/**
 * The OpenBeken console commands that set a deployed unit to `reference`; the
 * unit divides or multiplies its own latest raw reading, so only the real values travel.
 */
export function openBekenCalibrationCommands(reference: Triple): string[] {
  return [`VoltageSet ${reference.voltage}`, `CurrentSet ${reference.current}`, `PowerSet ${reference.power}`];
}
