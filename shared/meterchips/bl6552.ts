/**
 * BL6552 (Belling 3-phase metering IC) UART register protocol. Source: the
 * register map and frame layout in a public ESPHome-style `bl6552` component that
 * cites the Belling datasheet BL6552_V1.12_en.pdf (the datasheet the SPM02 thread
 * attaches, §5.2 UART; https://www.belling.com.cn/media/file_object/bel_product/BL6552/datasheet/BL6552_V1.12_en.pdf).
 * Not verified on hardware. Read = `35 reg`, the chip answers 3 data bytes
 * LSB first plus CS = ~(0x35 + reg + L + M + H); write = `CA reg L M H CS`,
 * CS = ~(0xCA + reg + L + M + H). Registers (datasheet §3): IC/IB/IA_RMS 0x0D/0x0E/0x0F,
 * VA/VB/VC_RMS 0x13/0x14/0x15, WATT_A/B/C 0x22/0x23/0x24 and total 0x25 (signed 24-bit),
 * PERIOD 0x2E, CF_A/B/C_CNT 0x2F/0x30/0x31, CF_CNT 0x32, PF_A.. 0x47.., USR_WRPROT 0x9E.
 * Our own implementation; no code was copied.
 */
import type { RegisterChip } from "./register.ts";
import { invertedSum } from "./register.ts";

export const BL6552_READ = 0x35;
export const BL6552_WRITE = 0xca;
export const BL6552_REG = {
  IC_RMS: 0x0d,
  IB_RMS: 0x0e,
  IA_RMS: 0x0f,
  VA_RMS: 0x13,
  VB_RMS: 0x14,
  VC_RMS: 0x15,
  WATT_A: 0x22,
  WATT_B: 0x23,
  WATT_C: 0x24,
  WATT: 0x25,
  PERIOD: 0x2e,
  CF_A_CNT: 0x2f,
  CF_B_CNT: 0x30,
  CF_C_CNT: 0x31,
  CF_CNT: 0x32,
  USR_WRPROT: 0x9e,
} as const;
/** Per-phase register triplets in phase order A, B, C. */
export const BL6552_PHASES = [
  { v: 0x13, i: 0x0f, p: 0x22 },
  { v: 0x14, i: 0x0e, p: 0x23 },
  { v: 0x15, i: 0x0d, p: 0x24 },
] as const;
/** Uncalibrated DIVIDE factors (BL0942-family scale); a bench calibration replaces them. */
export const BL6552_DEFAULTS = { voltage: 13162, current: 251210, power: 598 };

const names: Record<number, string> = Object.fromEntries(Object.entries(BL6552_REG).map(([k, v]) => [v, k]));

export const bl6552: RegisterChip = {
  chip: "BL6552",
  readRequest: (reg) => Uint8Array.of(BL6552_READ, reg),
  writeFrame(reg, value) {
    const b = [BL6552_WRITE, reg, value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff];
    return Uint8Array.from([...b, invertedSum(b)]);
  },
  byteOrder: "lsb",
  defaultSize: 3,
  captureRequest: (b, i) =>
    (b[i] === BL6552_READ || b[i] === BL6552_WRITE) && i + 1 < b.length
      ? { reg: b[i + 1], write: b[i] === BL6552_WRITE, reqLen: 2 }
      : null,
  registers: Object.fromEntries(
    Object.entries(names).map(([reg, name]) => [Number(reg), { name, size: 3, signed: name.startsWith("WATT") }]),
  ),
};
