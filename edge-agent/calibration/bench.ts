/**
 * Bench calibration of a chip meter the agent polls itself: take the driver's
 * latest raw readings under a reference load, compute the factors the chip
 * needs (divide or multiply), apply them to the running driver, and return the
 * record (reference, raw, old/new factors, error before/after) for the server's
 * calibration history.
 */
import { calibrate, type CalibrationResult, type Triple } from "../../shared/meterchips/calibration.ts";
import type { ChipPoller } from "../drivers/chip.ts";

export interface BenchCalibration extends CalibrationResult {
  chip: string;
  reference: Triple;
  raw: Triple;
  oldFactors: Triple;
}

/** Averages `samples` raw readings (the chip's own noise), then calibrates and applies. */
export async function calibrateDriver(
  poller: ChipPoller,
  reference: Triple,
  opts: { samples?: number; waitRaw: (seen: number) => Promise<void> },
): Promise<BenchCalibration> {
  const n = opts.samples ?? 3;
  const raws: Triple[] = [];
  let last: Triple | null = null;
  while (raws.length < n) {
    await opts.waitRaw(raws.length);
    if (poller.latestRaw && poller.latestRaw !== last) {
      last = poller.latestRaw;
      raws.push(last);
    }
  }
  const raw = {
    voltage: avg(raws.map((r) => r.voltage)),
    current: avg(raws.map((r) => r.current)),
    power: avg(raws.map((r) => r.power)),
  };
  const oldFactors = { ...poller.factors };
  const result = calibrate(poller.chip, reference, raw, oldFactors);
  poller.setFactors(result.factors);
  return { ...result, chip: poller.chip, reference, raw, oldFactors };
}

const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
