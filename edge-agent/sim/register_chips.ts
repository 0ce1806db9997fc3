/**
 * Register-protocol metering chips on a pty, device side: RN8209C (addr → data
 * MSB first + ~sum), HT7017 (`6A reg` → 3 bytes MSB first + ~sum) and BL6552
 * (`35 reg` → 3 bytes LSB first + ~sum). Register values come from the shared
 * physical model through each unit's gain error; energy registers are 24-bit
 * and wrap. Framing is written here, independently of shared/meterchips.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, PhysicalMeter, type Truth } from "./physics.ts";
import { PtyDevice, serveUntilSignal } from "./pty_device.ts";

type RegFn = (t: Truth, g: GainError) => number;

abstract class RegisterChipSim extends PtyDevice {
  protected rx: number[] = [];
  reads = 0;
  writes = 0;
  constructor(readonly meter: PhysicalMeter, public gain: GainError = PERFECT, pty?: Pty) {
    super(pty);
  }
  /** reply bytes for a read of `reg` (data + checksum), or null for an unknown register */
  protected answer(head: number[], size: number, order: "msb" | "lsb", fn: RegFn | undefined): Uint8Array | null {
    if (!fn) return null;
    let v = Math.round(fn(this.meter.sample(), this.gain));
    if (v < 0) v += 2 ** (8 * size);
    const data: number[] = [];
    for (let k = size - 1; k >= 0; k--) data.push(Math.floor(v / 256 ** k) & 0xff);
    if (order === "lsb") data.reverse();
    const sum = [...head, ...data].reduce((a, x) => a + x, 0);
    this.reads++;
    return Uint8Array.from([...data, ~sum & 0xff]);
  }
}

// Counts a perfectly calibrated chip reports per volt, amp and watt (raw = truth × scale).
const s8209 = { voltage: 8810, current: 52882, power: 9857 };
const RN8209_REGS: Record<number, { size: number; fn: RegFn }> = {
  0x22: { size: 3, fn: (t, g) => t.current * s8209.current * g.current },
  0x23: { size: 3, fn: () => 0 },
  0x24: { size: 3, fn: (t, g) => t.voltage * s8209.voltage * g.voltage },
  0x25: { size: 2, fn: (t) => 357954.5 / t.frequency / 2 }, // UFreq = fosc / 8 / f
  0x26: { size: 4, fn: (t, g) => t.power * s8209.power * g.power },
  0x27: { size: 4, fn: () => 0 },
  0x28: { size: 4, fn: () => 0 },
  0x29: { size: 3, fn: (t, g) => Math.floor(t.energyWh * 3.2 * g.power) % 0x1000000 },
  0x2a: { size: 3, fn: () => 0 },
  0x7f: { size: 3, fn: () => 0x820900 },
};

export class Rn8209Sim extends RegisterChipSim {
  protected async onBytes(bytes: Uint8Array) {
    this.rx.push(...bytes);
    while (this.rx.length) {
      const a = this.rx[0];
      if (a & 0x80) {
        // write: addr|0x80, data, ~sum; the size comes from the register
        const size = RN8209_REGS[a & 0x7f]?.size ?? (a === 0xea ? 1 : 2);
        if (this.rx.length < size + 2) return;
        const w = this.rx.splice(0, size + 2);
        if ((~w.slice(0, -1).reduce((x, y) => x + y, 0) & 0xff) === w[w.length - 1]) this.writes++;
        continue;
      }
      this.rx.shift();
      const r = RN8209_REGS[a];
      const out = this.answer([a], r?.size ?? 0, "msb", r?.fn);
      if (out) await this.reply(out);
    }
  }
}

const s7017 = { voltage: 10961.98, current: 1661.41, power: 3.1777 };
const HT7017_REGS: Record<number, RegFn> = {
  0x06: (t, g) => t.current * s7017.current * g.current,
  0x08: (t, g) => t.voltage * s7017.voltage * g.voltage,
  0x09: (t) => 500000 / t.frequency,
  0x0a: (t, g) => t.power * s7017.power * g.power,
  0x0b: () => 0,
  0x0c: (t, g) => t.voltage * t.current * s7017.power * g.power,
  0x0d: (t, g) => Math.floor(t.energyWh * 3.2 * g.power) % 0x1000000,
};

export class Ht7017Sim extends RegisterChipSim {
  protected async onBytes(bytes: Uint8Array) {
    this.rx.push(...bytes);
    while (this.rx.length >= 2) {
      if (this.rx[0] !== 0x6a) {
        this.rx.shift();
        continue;
      }
      const reg = this.rx[1];
      if (reg & 0x80) {
        if (this.rx.length < 5) return;
        const w = this.rx.splice(0, 5);
        if ((~(w[0] + w[1] + w[2] + w[3]) & 0xff) === w[4]) this.writes++;
        continue;
      }
      this.rx.splice(0, 2);
      const out = this.answer([0x6a, reg], 3, "msb", HT7017_REGS[reg]);
      if (out) await this.reply(out);
    }
  }
}

const s6552 = { voltage: 13162, current: 251210, power: 598 };
const phase = (k: number, q: "voltage" | "current" | "power") => (t: Truth, g: GainError) =>
  (t.phases[k]?.[q] ?? 0) * s6552[q] * g[q];
const BL6552_REGS: Record<number, RegFn> = {
  0x13: phase(0, "voltage"),
  0x14: phase(1, "voltage"),
  0x15: phase(2, "voltage"),
  0x0f: phase(0, "current"),
  0x0e: phase(1, "current"),
  0x0d: phase(2, "current"),
  0x22: phase(0, "power"),
  0x23: phase(1, "power"),
  0x24: phase(2, "power"),
  0x25: (t, g) => t.power * s6552.power * g.power,
  0x2e: (t) => 1_000_000 / t.frequency,
  0x32: (t, g) => Math.floor(t.energyWh * 3.2 * g.power) % 0x1000000,
};

export class Bl6552Sim extends RegisterChipSim {
  protected async onBytes(bytes: Uint8Array) {
    this.rx.push(...bytes);
    while (this.rx.length >= 2) {
      const c = this.rx[0];
      if (c === 0xca) {
        if (this.rx.length < 6) return;
        const w = this.rx.splice(0, 6);
        if ((~(w[0] + w[1] + w[2] + w[3] + w[4]) & 0xff) === w[5]) this.writes++;
        continue;
      }
      if (c !== 0x35) {
        this.rx.shift();
        continue;
      }
      const reg = this.rx[1];
      this.rx.splice(0, 2);
      const out = this.answer([0x35, reg], 3, "lsb", BL6552_REGS[reg]);
      if (out) await this.reply(out);
    }
  }
}

export async function runRn8209(args: string[]) {
  const sim = new Rn8209Sim(new PhysicalMeter({ loadW: Number(args[0] ?? 60) }));
  await serveUntilSignal(sim, "RN8209C simulator (ZMAi-90), 4800 8E1");
}
export async function runHt7017(args: string[]) {
  const sim = new Ht7017Sim(new PhysicalMeter({ loadW: Number(args[0] ?? 60) }));
  await serveUntilSignal(sim, "HT7017 simulator, 4800 8E1");
}
export async function runBl6552(args: string[]) {
  const w = Number(args[0] ?? 100);
  const sim = new Bl6552Sim(new PhysicalMeter({ loadW: [w, 2 * w, 4 * w], powerFactor: 0.9 }));
  await serveUntilSignal(sim, "BL6552 3-phase simulator");
}
