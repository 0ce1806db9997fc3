/**
 * BL0942 UART (reference/openbeken.md §5.3): the host sends `58 AA` (read all) and
 * the chip answers a 23-byte little-endian packet headed 0x55, checksum
 * ~((0x58 + sum(bytes 0..21)) & 0xFF). Init writes use `A8 reg d0 d1 d2 cs`.
 */
import { CodecError } from "../errors.ts";

export const BL0942_PACKET_LEN = 23;
export const BL0942_READ_ALL = Uint8Array.of(0x58, 0xaa);
/** USR_WRPROT = 0x55 (unlock) and MODE = 0x87|0x08 (800 ms RMS update), as OBK's init sends them. */
export const BL0942_INIT = [
  Uint8Array.of(0xa8, 0x1d, 0x55, 0x00, 0x00, 0xe5),
  Uint8Array.of(0xa8, 0x19, 0x8f, 0x00, 0x00, 0xaf),
];
export const BL0942_DEFAULTS = { voltage: 15188, current: 251210, power: 598 };

export interface Bl0942Packet {
  currentRaw: number;
  voltageRaw: number;
  currentFastRaw: number;
  /** signed 24-bit */
  powerRaw: number;
  /** 24-bit energy pulse counter; wraps */
  cfCount: number;
  /** line period in µs-ish counts: f = 1e6 / freqRaw */
  freqRaw: number;
  status: number;
}

const le24 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);

export function bl0942Checksum(b: Uint8Array): number {
  let s = 0x58;
  for (let i = 0; i < 22; i++) s += b[i];
  return ~s & 0xff;
}

export function decodeBl0942Packet(b: Uint8Array): Bl0942Packet {
  if (b.length !== BL0942_PACKET_LEN) throw new CodecError("bad_length", `BL0942 packet is 23 bytes, got ${b.length}`);
  if (b[0] !== 0x55) {
    throw new CodecError("bad_header", `BL0942 packet must start with 0x55, got 0x${b[0].toString(16)}`);
  }
  const cs = bl0942Checksum(b);
  if (b[22] !== cs) {
    throw new CodecError("bad_checksum", `BL0942 checksum 0x${b[22].toString(16)}, computed 0x${cs.toString(16)}`);
  }
  let p = le24(b, 10);
  if (p & 0x800000) p -= 0x1000000;
  return {
    currentRaw: le24(b, 1),
    voltageRaw: le24(b, 4),
    currentFastRaw: le24(b, 7),
    powerRaw: p,
    cfCount: le24(b, 13),
    freqRaw: b[16] | (b[17] << 8),
    status: le24(b, 19),
  };
}

export interface Bl0942Values {
  voltage: number;
  current: number;
  power: number;
  frequency: number;
}

/** DIVIDE chip: reading = raw / factor. */
export function bl0942Values(p: Bl0942Packet, f = BL0942_DEFAULTS): Bl0942Values {
  return {
    voltage: p.voltageRaw / f.voltage,
    current: p.currentRaw / f.current,
    power: p.powerRaw / f.power,
    frequency: p.freqRaw ? 1_000_000 / p.freqRaw : 0,
  };
}

/** Wh per CF_CNT count, given the power factor: 1638.4 × 256 / 3600 / powerFactor. */
export const bl0942WhPerCount = (powerFactor = BL0942_DEFAULTS.power) => (1638.4 * 256) / 3600 / powerFactor;

export type ChipStreamEvent<T> =
  | { kind: "packet"; packet: T; raw: Uint8Array }
  | { kind: "error"; error: CodecError; raw: Uint8Array }
  | { kind: "noise"; raw: Uint8Array };

/**
 * Stream parser for chips that answer a fixed-length packet behind a one-byte
 * header (BL0942, BL0940): other bytes are noise; a header whose packet fails
 * the checksum costs one byte, not a whole packet, so a real packet right after
 * is still found.
 */
export class FixedPacketParser<T> {
  #buf: number[] = [];

  constructor(
    readonly spec: { chip: string; length: number; header: number; decode(b: Uint8Array): T },
  ) {}

  push(chunk: Uint8Array): ChipStreamEvent<T>[] {
    const { length, header, decode } = this.spec;
    for (const x of chunk) this.#buf.push(x);
    const out: ChipStreamEvent<T>[] = [];
    let i = 0;
    const b = this.#buf;
    while (i < b.length) {
      if (b[i] !== header) {
        const s = i;
        while (i < b.length && b[i] !== header) i++;
        out.push({ kind: "noise", raw: Uint8Array.from(b.slice(s, i)) });
        continue;
      }
      if (b.length - i < length) break;
      const raw = Uint8Array.from(b.slice(i, i + length));
      try {
        out.push({ kind: "packet", packet: decode(raw), raw });
        i += length;
      } catch (e) {
        out.push({ kind: "error", error: e as CodecError, raw });
        i += 1;
      }
    }
    this.#buf = b.slice(i);
    return out;
  }

  flush(): ChipStreamEvent<T>[] {
    const rest = this.#buf;
    this.#buf = [];
    if (!rest.length) return [];
    return [{
      kind: "error",
      error: new CodecError("truncated", `${this.spec.chip} packet cut off after ${rest.length} bytes`),
      raw: Uint8Array.from(rest),
    }];
  }
}

export class Bl0942Parser extends FixedPacketParser<Bl0942Packet> {
  constructor() {
    super({ chip: "BL0942", length: BL0942_PACKET_LEN, header: 0x55, decode: decodeBl0942Packet });
  }
}
