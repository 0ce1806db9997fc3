/**
 * A simulated bench: N meters with believable household loads on one mains
 * supply. Voltage wanders around 230 V (shared by all meters, as on one
 * house's supply), each load follows its own cycle, current follows from
 * P / (V · PF), and the energy counter integrates power over real elapsed time.
 */
import { type Clock, systemClock } from "../../shared/clock.ts";
import type { PhaseReading, Reading } from "../../shared/telemetry.ts";
import type { Poller, PollerSink } from "./poller.ts";
import { seededRandom } from "../../shared/random.ts";

/** Load shapes: power in W at time t (seconds), with the load's power factor. */
export interface LoadModel {
  kind: string;
  powerFactor: number;
  power(tSec: number, rand: () => number): number;
}

const cycle = (t: number, period: number, onFor: number, phase: number) => ((t + phase) % period) < onFor;

export const loadModels: Record<string, (phase: number) => LoadModel> = {
  // compressor: ~95 W for 4 of every 10 minutes, with a start-up surge
  fridge: (phase) => ({
    kind: "fridge",
    powerFactor: 0.82,
    power: (t, r) => {
      const inCycle = (t + phase) % 600;
      if (inCycle >= 240) return 1.5 + r() * 0.3;
      return (inCycle < 3 ? 380 : 95) + r() * 6;
    },
  }),
  // a kettle boiling for 3 minutes about every 20
  kettle: (phase) => ({
    kind: "kettle",
    powerFactor: 1,
    power: (t, r) => cycle(t, 1200, 180, phase) ? 2050 + r() * 40 : 0.4,
  }),
  standby: () => ({ kind: "standby", powerFactor: 0.55, power: (_t, r) => 4.5 + r() * 1.5 }),
  router: () => ({ kind: "router", powerFactor: 0.6, power: (_t, r) => 9 + r() * 0.8 }),
  tv: (phase) => ({
    kind: "tv",
    powerFactor: 0.9,
    power: (t, r) => cycle(t, 900, 500, phase) ? 85 + r() * 25 : 0.5,
  }),
  washer: (phase) => ({
    kind: "washer",
    powerFactor: 0.75,
    power: (t, r) => {
      const s = (t + phase) % 1800;
      if (s < 300) return 1950 + r() * 100; // heating the water
      if (s < 1200) return 180 + r() * 250; // tumbling
      if (s < 1320) return 450 + r() * 80; // spin
      return 1.2;
    },
  }),
  heatpump: (phase) => ({
    kind: "heatpump",
    powerFactor: 0.93,
    power: (t, r) => 700 + 450 * Math.sin((t + phase) / 400) ** 2 + r() * 30,
  }),
  lighting: (phase) => ({
    kind: "lighting",
    powerFactor: 0.6,
    power: (t, r) => cycle(t, 600, 420, phase) ? 38 + r() * 2 : 0,
  }),
  pc: () => ({ kind: "pc", powerFactor: 0.95, power: (_t, r) => 65 + r() * 90 }),
};

export interface SimulatedMeterSpec {
  deviceId: string;
  load: LoadModel;
  /** three-phase meters report per-phase values (SPM02-like) */
  phases?: 1 | 3;
  /** starting energy counter in Wh */
  energyWh?: number;
}

export function defaultBench(count: number, seed = 1): SimulatedMeterSpec[] {
  const kinds = ["fridge", "kettle", "standby", "tv", "washer", "heatpump", "router", "lighting", "pc"];
  const rand = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const threePhase = i % 12 === 11; // one SPM02-style three-phase meter per dozen
    const kind = threePhase ? "heatpump" : kinds[i % kinds.length];
    return {
      deviceId: `sim-${String(i + 1).padStart(2, "0")}`,
      load: loadModels[kind](Math.floor(rand() * 1800)),
      phases: threePhase ? 3 : 1,
      energyWh: Math.round(rand() * 500_000) / 10,
    };
  });
}

export class SimulatedBench implements Poller {
  readonly name: string;
  #timer: ReturnType<typeof setInterval> | null = null;
  #rand: () => number;
  #mainsV = 230;
  #energy: Map<string, number>;
  #lastTs: number | null = null;
  #sink: PollerSink | null = null;

  constructor(
    readonly meters: SimulatedMeterSpec[],
    private opts: { clock?: Clock; intervalMs?: number; seed?: number; name?: string } = {},
  ) {
    this.name = opts.name ?? "simulated-bench";
    this.#rand = seededRandom(opts.seed ?? 7);
    this.#energy = new Map(meters.map((m) => [m.deviceId, m.energyWh ?? 0]));
  }

  get clock() {
    return this.opts.clock ?? systemClock;
  }

  start(sink: PollerSink) {
    this.#sink = sink;
    this.#timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 1000);
    this.tick();
  }

  stop() {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Read every meter once (the agent's timer calls this; tests may call it directly). */
  tick(): Reading[] {
    const ts = this.clock.now();
    const dtH = this.#lastTs === null ? 0 : Math.max(0, ts - this.#lastTs) / 3_600_000;
    this.#lastTs = ts;
    const r = this.#rand;
    // mains: mean-reverting random walk, 230 V ± a few volts
    this.#mainsV += (230 - this.#mainsV) * 0.05 + (r() - 0.5) * 0.8;
    const freq = 50 + (r() - 0.5) * 0.06;
    const tSec = ts / 1000;
    const out: Reading[] = [];
    for (const m of this.meters) {
      const pf = m.load.powerFactor;
      const power = m.load.power(tSec, r);
      // a little cable drop under load
      const voltage = this.#mainsV - power / 2000 + (r() - 0.5) * 0.2;
      const energyWh = this.#energy.get(m.deviceId)! + power * dtH;
      this.#energy.set(m.deviceId, energyWh);
      const reading: Reading = {
        deviceId: m.deviceId,
        ts,
        voltage: round(voltage, 1),
        current: round(power / (voltage * pf) / (m.phases ?? 1), 3),
        power: round(power, 1),
        energyWh: round(energyWh, 3),
        frequency: round(freq, 2),
        powerFactor: round(pf, 2),
      };
      if (m.phases === 3) {
        const phases: PhaseReading[] = [0, 1, 2].map((i) => {
          const share = power / 3 * (1 + (i - 1) * 0.04);
          const v = voltage + (i - 1) * 0.7;
          return { voltage: round(v, 1), current: round(share / (v * pf), 3), power: round(share, 1), powerFactor: pf };
        });
        reading.phases = phases;
        reading.current = round(phases.reduce((s, p) => s + p.current, 0), 3);
      }
      out.push(reading);
      this.#sink?.reading(reading);
    }
    return out;
  }
}

function round(v: number, digits: number) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
