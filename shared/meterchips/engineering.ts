/**
 * Engineering units (V, A, W, Hz) from what a metering chip sends, for the decode CLI: the chip
 * registry's own sample of a packet (registry.ts), which register carries which quantity for the
 * register chips (device knowledge as data), and the starting factors when no calibration is
 * given — the built-in profile for that chip when one was measured on a real unit
 * (shared/profiles/models.ts), else the chip's defaults (OpenBeken's). Pure code.
 */
import { applyFactor, QUANTITIES, type Triple } from "./calibration.ts";
import type { ChipSpec } from "./registry.ts";
import { rn8209Current } from "./rn8209.ts";
import { ht7017Frequency } from "./ht7017.ts";
import { builtinProfiles } from "../profiles/models.ts";

export interface Calibration {
  factors: Triple;
  /** where the factors came from: "--cal", "profile zmai-90", "chip defaults" */
  source: string;
}

/** The factors to use when none are given. */
export function defaultCalibration(chip: ChipSpec): Calibration {
  for (const p of builtinProfiles) {
    const t = p.transport;
    if (t.kind === "chip" && t.chip === chip.name && t.factors) {
      return { factors: t.factors, source: `profile ${p.id}` };
    }
  }
  return { factors: chip.defaults, source: "chip defaults" };
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** A packet chip's sample in V/A/W (and Hz when the chip reports it). */
export function packetValues(chip: ChipSpec, raw: Triple, cal: Calibration, frequency?: number) {
  const out: Record<string, number> = {};
  for (const q of QUANTITIES) out[q] = round(applyFactor(chip.cal, raw[q], cal.factors[q]));
  if (frequency !== undefined) out.frequency = round(frequency);
  return out;
}

type Quantity = "voltage" | "current" | "power" | "frequency";
interface RegisterMeaning {
  quantity: Quantity;
  phase?: number;
  /** raw register value → the raw quantity the factor applies to (or Hz directly) */
  raw?: (v: number) => number;
}

/** Register name → quantity, per register chip (the register maps live in each chip's module). */
export const REGISTER_QUANTITIES: Record<string, Record<string, RegisterMeaning>> = {
  RN8209C: {
    URMS: { quantity: "voltage" },
    IARMS: { quantity: "current", raw: rn8209Current },
    PowerPA: { quantity: "power" },
  },
  HT7017: {
    URMS: { quantity: "voltage" },
    I1RMS: { quantity: "current" },
    P1: { quantity: "power" },
    FREQ: { quantity: "frequency", raw: ht7017Frequency },
  },
  BL6552: {
    VA_RMS: { quantity: "voltage", phase: 0 },
    VB_RMS: { quantity: "voltage", phase: 1 },
    VC_RMS: { quantity: "voltage", phase: 2 },
    IA_RMS: { quantity: "current", phase: 0 },
    IB_RMS: { quantity: "current", phase: 1 },
    IC_RMS: { quantity: "current", phase: 2 },
    WATT_A: { quantity: "power", phase: 0 },
    WATT_B: { quantity: "power", phase: 1 },
    WATT_C: { quantity: "power", phase: 2 },
    WATT: { quantity: "power" },
  },
};

const UNIT: Record<Quantity, string> = { voltage: "V", current: "A", power: "W", frequency: "Hz" };

/** A register read in engineering units, or null for registers that carry no V/A/W/Hz. */
export function registerReading(
  chip: ChipSpec,
  register: string,
  value: number,
  cal: Calibration,
): { quantity: Quantity; value: number; unit: string; phase?: number } | null {
  const m = REGISTER_QUANTITIES[chip.name]?.[register];
  if (!m) return null;
  const raw = m.raw ? m.raw(value) : value;
  const out = m.quantity === "frequency" ? raw : applyFactor(chip.cal, raw, cal.factors[m.quantity]);
  return {
    quantity: m.quantity,
    value: round(out),
    unit: UNIT[m.quantity],
    ...(m.phase !== undefined ? { phase: m.phase } : {}),
  };
}

/** `--cal 8810,52882,9857` (voltage, current, power factors) → a calibration. */
export function parseCalibrationArg(s: string): Calibration {
  const parts = s.split(",").map(Number);
  if (parts.length !== 3 || !parts.every((x) => Number.isFinite(x) && x !== 0)) {
    throw new Error(`--cal takes three non-zero factors "voltage,current,power", got ${JSON.stringify(s)}`);
  }
  const factors = Object.fromEntries(QUANTITIES.map((q, i) => [q, parts[i]])) as Triple;
  return { factors, source: "--cal" };
}
