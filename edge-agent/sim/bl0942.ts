/**
 * BL0942 on a pty, device side: answers `58 AA` with the 23-byte little-endian
 * packet (reference §5.3), accepts `A8` writes, reports the physical model's
 * values through a gain error, and keeps a 24-bit CF_CNT that wraps.
 * Packet bytes are built here, independently of shared/meterchips.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, PhysicalMeter } from "./physics.ts";
import { PtyDevice, serveUntilSignal } from "./pty_device.ts";

/** Counts a perfectly calibrated chip reports per volt, amp and watt (raw = truth × scale). */
const SCALE = { voltage: 15188, current: 251210, power: 598 };

export class Bl0942Sim extends PtyDevice {
  #rx: number[] = [];
  /** CF_CNT counts at the start, so a test can start right below the 24-bit wrap */
  cfStart: number;
  writes = 0;

  constructor(
    readonly meter: PhysicalMeter,
    public gain: GainError = PERFECT,
    opts: { pty?: Pty; cfStart?: number } = {},
  ) {
    super(opts.pty);
    this.cfStart = opts.cfStart ?? 0;
  }

  protected async onBytes(bytes: Uint8Array) {
    this.#rx.push(...bytes);
    while (this.#rx.length >= 2) {
      if (this.#rx[0] === 0x58 && this.#rx[1] === 0xaa) {
        this.#rx.splice(0, 2);
        await this.reply(this.packet());
      } else if (this.#rx[0] === 0xa8) {
        if (this.#rx.length < 6) return;
        const w = this.#rx.splice(0, 6);
        if ((~(w[0] + w[1] + w[2] + w[3] + w[4]) & 0xff) === w[5]) this.writes++;
      } else {
        this.#rx.shift();
      }
    }
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
