/**
 * CSE7766 / HLW8032 (reference/openbeken.md §5.6; Chipsea CSE7766 user manual Rev1.2 §3.5):
 * the chip streams a 24-byte big-endian packet every ~50 ms at 4800 8E1.
 * Byte 0 is the state: 0x55 normal, 0xAA chip error (not calibrated), 0xFx flags
 * (bit3 voltage cycle overflow, bit2 current, bit1 power, bit0 coefficient storage error).
 * Byte 1 is the check byte 0x5A. OpenBeken accepts only `55 5A` and drops `F2 5A`
 * (power cycle overflow = no load); here those packets decode with the
 * overflowed quantity reported as 0 instead of being lost.
 */
import { CodecError } from "../errors.ts";
import type { ChipStreamEvent } from "./bl0942.ts";

export const CSE7766_PACKET_LEN = 24;
export const CSE7766_DEFAULTS = { voltage: 1.94034719, current: 251210, power: 1.88214409 };

export interface Cse7766Packet {
  state: number;
  voltageParam: number;
  voltageCycle: number;
  currentParam: number;
  currentCycle: number;
  powerParam: number;
  powerCycle: number;
  adjust: number;
  cfPulses: number;
  voltageOverflow: boolean;
  currentOverflow: boolean;
  powerOverflow: boolean;
}

const be24 = (b: Uint8Array, o: number) => (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];

export function cse7766Checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 2; i <= 22; i++) s += b[i];
  return s & 0xff;
}

const validState = (s: number) => s === 0x55 || (s & 0xf0) === 0xf0;

export function decodeCse7766Packet(b: Uint8Array): Cse7766Packet {
  if (b.length !== CSE7766_PACKET_LEN) {
    throw new CodecError("bad_length", `CSE7766 packet is 24 bytes, got ${b.length}`);
  }
  if (b[1] !== 0x5a) throw new CodecError("bad_header", `CSE7766 check byte must be 0x5A, got 0x${b[1].toString(16)}`);
  if (b[0] === 0xaa) throw new CodecError("chip_error", "CSE7766 reports state 0xAA: chip error / not calibrated");
  if (!validState(b[0])) {
    throw new CodecError("bad_header", `CSE7766 state byte 0x${b[0].toString(16)} is not 0x55 or 0xFx`);
  }
  const cs = cse7766Checksum(b);
  if (b[23] !== cs) {
    throw new CodecError("bad_checksum", `CSE7766 checksum 0x${b[23].toString(16)}, computed 0x${cs.toString(16)}`);
  }
  const st = b[0];
  const flags = st === 0x55 ? 0 : st & 0x0f;
  return {
    state: st,
    voltageParam: be24(b, 2),
    voltageCycle: be24(b, 5),
    currentParam: be24(b, 8),
    currentCycle: be24(b, 11),
    powerParam: be24(b, 14),
    powerCycle: be24(b, 17),
    adjust: b[20],
    cfPulses: (b[21] << 8) | b[22],
    voltageOverflow: (flags & 0x8) !== 0,
    currentOverflow: (flags & 0x4) !== 0,
    powerOverflow: (flags & 0x2) !== 0,
  };
}

/**
 * Raw quantities (parameter / cycle). By default as OBK computes them: V and P
 * truncated to integers, I kept as a float; `truncate: false` keeps all exact.
 */
export function cse7766Raw(
  p: Cse7766Packet,
  opts: { truncate?: boolean } = {},
): { voltage: number; current: number; power: number } {
  const q = (par: number, cyc: number, over: boolean) => (over || cyc === 0 ? 0 : par / cyc);
  const t = opts.truncate === false ? (x: number) => x : Math.trunc;
  return {
    voltage: t(q(p.voltageParam, p.voltageCycle, p.voltageOverflow)),
    current: q(p.currentParam, p.currentCycle, p.currentOverflow),
    power: t(q(p.powerParam, p.powerCycle, p.powerOverflow)),
  };
}

/** MULTIPLY chip: reading = raw × factor. */
export function cse7766Values(p: Cse7766Packet, f = CSE7766_DEFAULTS) {
  const r = cse7766Raw(p);
  return { voltage: r.voltage * f.voltage, current: r.current * f.current, power: r.power * f.power };
}

/** Resynchronising parser: a packet starts at `55 5A` or `Fx 5A`. */
export class Cse7766Parser {
  #buf: number[] = [];

  push(chunk: Uint8Array): ChipStreamEvent<Cse7766Packet>[] {
    for (const x of chunk) this.#buf.push(x);
    const out: ChipStreamEvent<Cse7766Packet>[] = [];
    const b = this.#buf;
    let i = 0;
    const isHead = (k: number) => (validState(b[k]) || b[k] === 0xaa) && b[k + 1] === 0x5a;
    while (i < b.length) {
      if (i + 1 >= b.length) break;
      if (!isHead(i)) {
        const s = i;
        while (i + 1 < b.length && !isHead(i)) i++;
        out.push({ kind: "noise", raw: Uint8Array.from(b.slice(s, i)) });
        continue;
      }
      if (b.length - i < CSE7766_PACKET_LEN) break;
      const raw = Uint8Array.from(b.slice(i, i + CSE7766_PACKET_LEN));
      try {
        out.push({ kind: "packet", packet: decodeCse7766Packet(raw), raw });
        i += CSE7766_PACKET_LEN;
      } catch (e) {
        out.push({ kind: "error", error: e as CodecError, raw });
        i += 1;
      }
    }
    this.#buf = b.slice(i);
    return out;
  }

  flush(): ChipStreamEvent<Cse7766Packet>[] {
    const rest = this.#buf;
    this.#buf = [];
    if (!rest.length) return [];
    return [{
      kind: "error",
      error: new CodecError("truncated", `CSE7766 packet cut off after ${rest.length} bytes`),
      raw: Uint8Array.from(rest),
    }];
  }
}
