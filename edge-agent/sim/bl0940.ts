/**
 * BL0940 on a pty, device side. From the Belling BL0940 datasheet V1.1: the chip answers the
 * read-all request `50 AA` (address pins at 0; the datasheet's 0x58 is not what chips in the
 * field accept, per Tasmota xnrg_14_bl09xx.ino) with 35 bytes: header 0x55, then 24-bit
 * little-endian I_FAST_RMS, I_RMS, reserved, V_RMS, reserved, WATT (two's complement),
 * reserved, CF_CNT, reserved, 16-bit TPS1 + 0x00, 16-bit TPS2 + 0x00, and
 * ~(0x50 + sum of the 34 bytes). Writes `A0 reg d0 d1 d2 cs` are accepted when their
 * checksum is right. Values come from the physical model through the datasheet's transfer
 * functions (mV at the pins, Vref 1.218 V) for a 1 mΩ shunt and a 5 × 390 kΩ / 1 kΩ divider:
 * I_RMS = 324004 × Vshunt / Vref, V_RMS = 79931 × Vpin / Vref, WATT = 4046 × Vshunt × Vpin / Vref²;
 * one CF_CNT count = 1638.4 × 256 / (WATT per watt) joules.
 * Bytes are built here, independently of shared/meterchips.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, PhysicalMeter } from "./physics.ts";
import { serveUntilSignal } from "./pty_device.ts";
import { BellingReadAllSim } from "./belling_uart.ts";

const VREF = 1.218; // V
const SHUNT_MOHM = 1; // mV at the current pins per amp
const PIN_MV_PER_VOLT = 1000 / (5 * 390 + 1); // mV at the voltage pin per line volt
/** Register counts per volt, amp and watt on this board (≈ 33636, 266013, 1398). */
export const BL0940_BOARD_SCALE = {
  voltage: (79931 * PIN_MV_PER_VOLT) / VREF,
  current: (324004 * SHUNT_MOHM) / VREF,
  power: (4046 * SHUNT_MOHM * PIN_MV_PER_VOLT) / (VREF * VREF),
};

export class Bl0940Sim extends BellingReadAllSim {
  /** die temperature, °C */
  temperatureC = 35;

  constructor(meter: PhysicalMeter, gain: GainError = PERFECT, opts: { pty?: Pty; cfStart?: number } = {}) {
    super(meter, gain, opts, { read: 0x50, write: 0xa0 });
  }

  packet(): Uint8Array {
    const t = this.meter.sample();
    const s = BL0940_BOARD_SCALE;
    const i = Math.round(t.current * s.current * this.gain.current);
    const v = Math.round(t.voltage * s.voltage * this.gain.voltage);
    const p = Math.round(t.power * s.power * this.gain.power);
    const joulesPerCount = (1638.4 * 256) / s.power;
    const cf = (this.cfStart + Math.floor((t.energyWh * 3600 * this.gain.power) / joulesPerCount)) % 0x1000000;
    // datasheet: T = 170/448 × (TPS/2 − 32) − 45
    const tps = Math.round(((this.temperatureC + 45) * 448 / 170 + 32) * 2);
    const out: number[] = [0x55];
    const put24 = (x: number) => out.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff);
    put24(i); // I_FAST_RMS: a steady load reads the same as I_RMS
    put24(i);
    put24(0);
    put24(v);
    put24(0);
    put24(p & 0xffffff);
    put24(0);
    put24(cf);
    put24(0);
    out.push(tps & 0xff, tps >> 8, 0);
    out.push(0xfe, 0x03, 0); // TPS2: no external sensor fitted (the value Tasmota's captures show)
    const sum = out.reduce((a, x) => a + x, 0x50);
    out.push(~sum & 0xff);
    return Uint8Array.from(out);
  }
}

export async function runSimCli(args: string[]) {
  const load = Number(args[0] ?? 60);
  const sim = new Bl0940Sim(new PhysicalMeter({ loadW: load }));
  await serveUntilSignal(sim, `BL0940 simulator: 230 V, ${load} W resistive load, 4800 baud`);
}
