/**
 * CSE7766 on a pty, device side: streams a 24-byte packet every 50 ms like the
 * chip, `55 5A` normally and `F2 5A` (power cycle overflow) when the load is off.
 * A 16-bit CF pulse counter wraps. Bytes built here, independently of shared/.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, PhysicalMeter } from "./physics.ts";
import { PtyDevice, serveUntilSignal } from "./pty_device.ts";

/** A perfectly calibrated chip's MULTIPLY factors: raw = truth / scale. */
const SCALE = { voltage: 1.94034719, current: 1, power: 1.88214409 };

export class Cse7766Sim extends PtyDevice {
  #next = 0;
  periodMs = 50;

  constructor(readonly meter: PhysicalMeter, public gain: GainError = PERFECT, opts: { pty?: Pty } = {}) {
    super(opts.pty);
  }

  protected onBytes() {
    // receive-only chip: whatever the host sends is ignored
  }

  protected override async tick() {
    const now = performance.now();
    if (now < this.#next) return;
    this.#next = now + this.periodMs;
    await this.reply(this.packet());
  }

  packet(): Uint8Array {
    const t = this.meter.sample();
    const s = SCALE;
    // raw = par / cycle; reading = raw × factor, so raw = truth × gain / factor
    const vCyc = 1000, iCyc = 1_000_000, pCyc = 10_000;
    const vPar = Math.round(((t.voltage * this.gain.voltage) / s.voltage) * vCyc);
    const iPar = Math.round(((t.current * this.gain.current) / s.current) * iCyc);
    const noLoad = t.power < 0.5;
    const pPar = noLoad ? 0 : Math.round(((t.power * this.gain.power) / s.power) * pCyc);
    const cf = Math.floor(t.energyWh * 3.2) & 0xffff; // 3200 imp/kWh, wraps at 16 bits
    const be24 = (x: number) => [(x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
    const b = [
      noLoad ? 0xf2 : 0x55,
      0x5a,
      ...be24(vPar),
      ...be24(vCyc),
      ...be24(iPar),
      ...be24(iCyc),
      ...be24(pPar),
      ...be24(noLoad ? 0xffffff : pCyc),
      0x70,
      cf >> 8,
      cf & 0xff,
    ];
    let sum = 0;
    for (let k = 2; k < b.length; k++) sum += b[k];
    b.push(sum & 0xff);
    return Uint8Array.from(b);
  }
}

export async function runSimCli(args: string[]) {
  const load = Number(args[0] ?? 60);
  const sim = new Cse7766Sim(new PhysicalMeter({ loadW: load }));
  await serveUntilSignal(sim, `CSE7766 simulator: 230 V, ${load} W, streaming every 50 ms`);
}
