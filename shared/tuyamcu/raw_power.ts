/**
 * Decoders for the RAW power datapoints TuyaMCU meters send (reference/openbeken.md §4.4).
 * Unlike OpenBeken, the 3-byte current and power fields are kept whole: OBK's
 * RAW_TAC2121C_VCP drops their top byte, so a 70 A or 70 kW reading wraps.
 */
import { CodecError } from "../errors.ts";

export type RawPowerFormat = "V2C3P3" | "VCP6" | "VCPPfF" | "DDS238";

export interface RawPower {
  format: RawPowerFormat;
  /** integers exactly as sent, before scaling */
  raw: { voltage: number; current: number; power: number; powerFactor?: number; frequency?: number };
  voltage: number;
  current: number;
  power: number;
  powerFactor?: number;
  frequency?: number;
}

export interface RawPowerOptions {
  /**
   * Watts per power count; default 1 W, as OpenBeken decodes it: its self-test
   * (src/selftest/selftest_tuyaMCU.c, RAW_TAC2121C_VCP) asserts 67 W for
   * `…0809 01 00012E 000043` (230.5 V, 302 mA), and the SPM02 capture's phases only add
   * up to its total DP in whole watts. The SPM02's Tuya model JSON says 0.0001 kW (0.1 W);
   * a meter that really counts tenths says so in its profile.
   */
  powerUnitW?: number;
}

/** One watt per power count (see RawPowerOptions.powerUnitW). */
export const DEFAULT_POWER_UNIT_W = 1;

const u16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u24 = (b: Uint8Array, o: number) => (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Picks the format from the length: 8 or 10 bytes = V2C3P3, 6 = VCP6, 15 = VCPPfF. */
export function decodeRawPower(bytes: Uint8Array, format?: RawPowerFormat, opts: RawPowerOptions = {}): RawPower {
  const f = format ?? guessFormat(bytes.length);
  const pu = opts.powerUnitW ?? DEFAULT_POWER_UNIT_W;
  switch (f) {
    case "V2C3P3": {
      // 8 bytes: V 2 bytes 0.1 V, I 3 bytes mA, P 3 bytes; the 10-byte DIN-rail variant adds 2 unknown bytes
      need(bytes, [8, 10], f);
      const v = u16(bytes, 0), i = u24(bytes, 2), p = u24(bytes, 5);
      return {
        format: f,
        raw: { voltage: v, current: i, power: p },
        voltage: round(v / 10, 1),
        current: round(i / 1000, 3),
        power: round(p * pu, 3),
      };
    }
    case "VCP6": {
      need(bytes, [6], f);
      const v = u16(bytes, 0), i = u16(bytes, 2), p = u16(bytes, 4);
      return { format: f, raw: { voltage: v, current: i, power: p }, voltage: v / 10, current: i / 10, power: p / 10 };
    }
    case "VCPPfF": {
      need(bytes, [15], f);
      const v = u16(bytes, 0), i = u24(bytes, 2), p = u24(bytes, 5), pf = u16(bytes, 11), fr = u16(bytes, 13);
      return {
        format: f,
        raw: { voltage: v, current: i, power: p, powerFactor: pf, frequency: fr },
        voltage: round(v / 10, 1),
        current: round(i / 1000, 3),
        power: round(p * pu, 3),
        powerFactor: round(pf / 1000, 3),
        frequency: round(fr / 1000, 3),
      };
    }
    case "DDS238": {
      need(bytes, [15], f);
      const i = u16(bytes, 11), v = u16(bytes, 13);
      return { format: f, raw: { voltage: v, current: i, power: 0 }, voltage: v / 10, current: i / 1000, power: 0 };
    }
  }
}

function guessFormat(len: number): RawPowerFormat {
  if (len === 8 || len === 10) return "V2C3P3";
  if (len === 6) return "VCP6";
  if (len === 15) return "VCPPfF";
  throw new CodecError("bad_raw_power", `no RAW power format is ${len} bytes long`);
}

function need(b: Uint8Array, lens: number[], f: string) {
  if (!lens.includes(b.length)) {
    throw new CodecError("bad_raw_power", `${f} needs ${lens.join(" or ")} bytes, got ${b.length}`);
  }
}
