/**
 * HT7017 (HiTrendtech single-phase metering IC) UART register protocol.
 * Facts from the HT7017 datasheet as summarised in the OpenBeken-fork driver
 * headers found with the code search (drv_ht7017.h "verified against datasheet
 * Rev1.3 §5.1", §4.1; found by searching "HT7017 UART protocol"; not verified on hardware): 4800 baud 8E1, half duplex, the chip is the slave;
 * read: host sends `6A reg`, chip answers `D2 D1 D0 CS` (24-bit MSB first),
 * CS = ~(0x6A + reg + D2 + D1 + D0). Registers: 0x06 I1RMS, 0x08 URMS, 0x09 FREQ
 * (f = 500000 / raw), 0x0A P1 (signed 24-bit), 0x0B Q1 (signed), 0x0C S1,
 * 0x0D EP1, 0x0E EQ1, 0x19 EMUSR. Write: `6A reg|0x80 DH DL CS` (16-bit data),
 * CS = ~(sum of the four bytes). Our own implementation; no code was copied.
 */
import type { RegisterChip } from "./register.ts";
import { invertedSum } from "./register.ts";

export const HT7017_HEAD = 0x6a;
export const HT7017_REG = {
  I1RMS: 0x06,
  URMS: 0x08,
  FREQ: 0x09,
  P1: 0x0a,
  Q1: 0x0b,
  S1: 0x0c,
  EP1: 0x0d,
  EQ1: 0x0e,
  EMUSR: 0x19,
} as const;
/** Uncalibrated starting points (DIVIDE, like BL0942); a bench calibration replaces them. */
export const HT7017_DEFAULTS = { voltage: 10961.98, current: 1661.41, power: 3.1777 };
export const ht7017Frequency = (raw: number) => (raw ? 500000 / raw : 0);

export const ht7017: RegisterChip = {
  chip: "HT7017",
  readRequest: (reg) => Uint8Array.of(HT7017_HEAD, reg & 0x7f),
  writeFrame(reg, value) {
    const b = [HT7017_HEAD, (reg & 0x7f) | 0x80, (value >> 8) & 0xff, value & 0xff];
    return Uint8Array.from([...b, invertedSum(b)]);
  },
  byteOrder: "msb",
  defaultSize: 3,
  captureRequest: (b, i) =>
    b[i] === HT7017_HEAD && i + 1 < b.length
      ? { reg: b[i + 1] & 0x7f, write: (b[i + 1] & 0x80) !== 0, reqLen: 2 }
      : null,
  registers: {
    0x06: { name: "I1RMS", size: 3 },
    0x08: { name: "URMS", size: 3 },
    0x09: { name: "FREQ", size: 3 },
    0x0a: { name: "P1", size: 3, signed: true },
    0x0b: { name: "Q1", size: 3, signed: true },
    0x0c: { name: "S1", size: 3 },
    0x0d: { name: "EP1", size: 3 },
    0x0e: { name: "EQ1", size: 3 },
    0x19: { name: "EMUSR", size: 3 },
  },
};
