/**
 * BL0940 (Belling single-phase metering IC, e.g. in the BlitzWolf BW-SHP10 Tuya plug) over UART, 4800 8N1.
 * Belling datasheet BL0940 V1.1 (https://www.belling.com.cn/media/file_object/bel_product/BL0940/datasheet/BL0940_V1.1_en.pdf):
 * registers I_FAST_RMS 0x00, I_RMS 0x04, V_RMS 0x06, WATT 0x08 (signed 24-bit), CF_CNT 0x0A, TPS1 0x0E, TPS2 0x0F;
 * "read all" = read command then 0xAA, answered by a 35-byte packet of 24-bit values LSB first, the last byte
 * ~(read command + sum of bytes 0..33). Writes are `A0 reg d0 d1 d2 cs`.
 * The datasheet says read command and header 0x58; chips in the field answer `50 AA` with header 0x55
 * (Tasmota tasmota/tasmota_xnrg_energy/xnrg_14_bl09xx.ino and ESPHome esphome/components/bl0940 both
 * found so; the packets captured in Tasmota's comments checksum only with 0x50), so that is what is used here.
 * Temperature: T = 170/448 × (TPS/2 − 32) − 45 °C (same two sources).
 * OpenBeken has no BL0940 driver (src/driver/ holds drv_bl0937, drv_bl0939, drv_bl0942, not drv_bl0940),
 * so only the agent reads this chip; the defaults are Tasmota's BL0940_UREF/IREF/PREF (DIVIDE, like BL0942).
 * Our own implementation; no code was copied.
 */
import { CodecError } from "../errors.ts";
import { FixedPacketParser } from "./bl0942.ts";

export const BL0940_PACKET_LEN = 35;
export const BL0940_HEADER = 0x55;
export const BL0940_READ_CMD = 0x50;
export const BL0940_READ_ALL = Uint8Array.of(BL0940_READ_CMD, 0xaa);
export const BL0940_DEFAULTS = { voltage: 33000, current: 275000, power: 1430 };

export interface Bl0940Packet {
  currentFastRaw: number;
  currentRaw: number;
  voltageRaw: number;
  /** signed 24-bit */
  powerRaw: number;
  /** 24-bit energy pulse counter; wraps */
  cfCount: number;
  /** internal temperature sensor code */
  tps1: number;
  /** external temperature sensor code */
  tps2: number;
}

const le24 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);

export function bl0940Checksum(b: Uint8Array): number {
  let s = BL0940_READ_CMD;
  for (let i = 0; i < BL0940_PACKET_LEN - 1; i++) s += b[i];
  return ~s & 0xff;
}

export function decodeBl0940Packet(b: Uint8Array): Bl0940Packet {
  if (b.length !== BL0940_PACKET_LEN) {
    throw new CodecError("bad_length", `BL0940 packet is 35 bytes, got ${b.length}`);
  }
  if (b[0] !== BL0940_HEADER) {
    throw new CodecError("bad_header", `BL0940 packet must start with 0x55, got 0x${b[0].toString(16)}`);
  }
  const cs = bl0940Checksum(b);
  if (b[34] !== cs) {
    throw new CodecError("bad_checksum", `BL0940 checksum 0x${b[34].toString(16)}, computed 0x${cs.toString(16)}`);
  }
  let p = le24(b, 16);
  if (p & 0x800000) p -= 0x1000000;
  return {
    currentFastRaw: le24(b, 1),
    currentRaw: le24(b, 4),
    voltageRaw: le24(b, 10),
    powerRaw: p,
    cfCount: le24(b, 22),
    tps1: b[28] | (b[29] << 8),
    tps2: b[31] | (b[32] << 8),
  };
}

export const bl0940Temperature = (tps: number) => (170 / 448) * (tps / 2 - 32) - 45;

/** DIVIDE chip: reading = raw / factor. */
export function bl0940Values(p: Bl0940Packet, f = BL0940_DEFAULTS) {
  return {
    voltage: p.voltageRaw / f.voltage,
    current: p.currentRaw / f.current,
    power: p.powerRaw / f.power,
    temperature: bl0940Temperature(p.tps1),
  };
}

/** Wh per CF_CNT count (datasheet: one count = 1638.4 × 256 / power factor joules). */
export const bl0940WhPerCount = (powerFactor = BL0940_DEFAULTS.power) => (1638.4 * 256) / 3600 / powerFactor;

export class Bl0940Parser extends FixedPacketParser<Bl0940Packet> {
  constructor() {
    super({ chip: "BL0940", length: BL0940_PACKET_LEN, header: BL0940_HEADER, decode: decodeBl0940Packet });
  }
}
