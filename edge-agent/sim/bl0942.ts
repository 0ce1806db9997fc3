/**
 * BL0942 on a pty, device side: answers `58 AA` with the 23-byte little-endian
 * packet (reference §5.3), accepts `A8` writes, reports the physical model's
 * values through a gain error, and keeps a 24-bit CF_CNT that wraps.
 * Packet bytes are built here, independently of shared/meterchips.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, PhysicalMeter } from "./physics.ts";
import { serveUntilSignal } from "./pty_device.ts";
import { BellingReadAllSim } from "./belling_uart.ts";

/** Counts a perfectly calibrated chip reports per volt, amp and watt (raw = truth × scale). */
const SCALE = { voltage: 15188, current: 251210, power: 598 };

export class Bl0942Sim extends BellingReadAllSim {
  constructor(meter: PhysicalMeter, gain: GainError = PERFECT, opts: { pty?: Pty; cfStart?: number } = {}) {
    super(meter, gain, opts, { read: 0x58, write: 0xa8 });
  }

  packet(): Uint8Array {
    const t = this.meter.sample();
    const s = SCALE;
    const i = Math.round(t.current * s.current * this.gain.current);
    const v = Math.round(t.voltage * s.voltage * this.gain.voltage);
    const p = Math.round(t.power * s.power * this.gain.power);
    // Wh per count = 1638.4 × 256 / 3600 / 598 at the chip's own power scale
    const whPerCount = (1638.4 * 256) / 3600 / s.power;
    const cf = (this.cfStart + Math.floor((t.energyWh * this.gain.power) / whPerCount)) % 0x1000000;
    const period = Math.round(1_000_000 / t.frequency);
    const b = [0x55];
    const put24 = (x: number) => b.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff);
    put24(i);
    put24(v);
    put24(i);
    put24(p & 0xffffff);
    put24(cf);
    b.push(period & 0xff, (period >> 8) & 0xff, 0);
    put24(0);
    let sum = 0x58;
    for (const x of b) sum += x;
    b.push(~sum & 0xff);
    return Uint8Array.from(b);
  }
}

export async function runSimCli(args: string[]) {
  const load = Number(args[0] ?? 60);
  const sim = new Bl0942Sim(new PhysicalMeter({ loadW: load }));
  await serveUntilSignal(sim, `BL0942 simulator: 230 V, ${load} W resistive load, 4800 baud`);
}
