/**
 * Engineering units (V, A, W, Hz) from what a metering chip sends, for the decode CLI: which
 * register carries which quantity (device knowledge as data), and the starting factors when no
 * calibration is given — the built-in profile for that chip when one was measured on a real unit
 * (shared/profiles/models.ts), else the chip's uncalibrated defaults. Pure code.
 */
import type { Triple } from "./calibration.ts";
import { calKind, QUANTITIES } from "./calibration.ts";
import { BL0942_DEFAULTS } from "./bl0942.ts";
import { CSE7766_DEFAULTS } from "./cse7766.ts";
import { RN8209_DEFAULTS, rn8209Current } from "./rn8209.ts";
import { HT7017_DEFAULTS, ht7017Frequency } from "./ht7017.ts";
import { BL6552_DEFAULTS } from "./bl6552.ts";
import { builtinProfiles } from "../profiles/models.ts";

export type ChipId = "BL0942" | "CSE7766" | "RN8209C" | "HT7017" | "BL6552";

const CHIP_DEFAULTS: Record<ChipId, Triple> = {
  BL0942: BL0942_DEFAULTS,
  CSE7766: CSE7766_DEFAULTS,
  RN8209C: RN8209_DEFAULTS,
  HT7017: HT7017_DEFAULTS,
  BL6552: BL6552_DEFAULTS,
};

export interface Calibration {
  factors: Triple;
  /** where the factors came from: "--cal", "profile zmai-90", "chip defaults" */
  source: string;
}

/** The factors to use when none are given. */
export function defaultCalibration(chip: ChipId): Calibration {
  for (const p of builtinProfiles) {
    const t = p.transport;
    if (t.kind === "chip" && t.chip === chip && t.factors) return { factors: t.factors, source: `profile ${p.id}` };
  }
  return { factors: CHIP_DEFAULTS[chip], source: "chip defaults" };
}

type Quantity = "voltage" | "current" | "power" | "frequency";
interface RegisterMeaning {
  quantity: Quantity;
  phase?: number;
  /** raw register value → the raw quantity the factor applies to (or Hz directly) */
  raw?: (v: number) => number;
}

/** Register name → quantity, per chip (the register maps live in each chip's module). */
export const REGISTER_QUANTITIES: Record<"RN8209C" | "HT7017" | "BL6552", Record<string, RegisterMeaning>> = {
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
const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** A register read in engineering units, or null for registers that carry no V/A/W/Hz. */
export function registerReading(
  chip: "RN8209C" | "HT7017" | "BL6552",
  register: string,
  value: number,
  cal: Calibration,
): { quantity: Quantity; value: number; unit: string; phase?: number } | null {
  const m = REGISTER_QUANTITIES[chip][register];
  if (!m) return null;
  const raw = m.raw ? m.raw(value) : value;
  const out = m.quantity === "frequency"
    ? raw
    : calKind(chip) === "divide"
    ? raw / cal.factors[m.quantity]
    : raw * cal.factors[m.quantity];
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
