/**
 * One physical model behind every meter simulator: a supply voltage and a load
 * (per phase), from which current, power, power factor and energy follow
 * consistently (P = V·I·PF, E = ∫P dt). Each chip simulator only translates
 * this truth into its own registers, with its own gain error and counter width.
 */
import { type Clock, systemClock } from "../../shared/clock.ts";

export interface PhaseTruth {
  voltage: number;
  current: number;
  power: number;
  powerFactor: number;
}

export interface Truth extends PhaseTruth {
  frequency: number;
  /** import energy in Wh since the model started, plus its starting value */
  energyWh: number;
  phases: PhaseTruth[];
}

export interface PhysicsOptions {
  clock?: Clock;
  voltage?: number;
  /** watts per phase */
  loadW?: number | number[];
  powerFactor?: number;
  frequency?: number;
  energyWh?: number;
}

export class PhysicalMeter {
  voltage: number;
  frequency: number;
  powerFactor: number;
  loads: number[];
  #energyWh: number;
  #last: number;
  readonly clock: Clock;

  constructor(o: PhysicsOptions = {}) {
    this.clock = o.clock ?? systemClock;
    this.voltage = o.voltage ?? 230;
    this.frequency = o.frequency ?? 50;
    this.powerFactor = o.powerFactor ?? 1;
    this.loads = Array.isArray(o.loadW) ? [...o.loadW] : [o.loadW ?? 60];
    this.#energyWh = o.energyWh ?? 0;
    this.#last = this.clock.now();
  }

  setLoad(watts: number | number[], powerFactor?: number) {
    this.#integrate();
    this.loads = Array.isArray(watts) ? [...watts] : [watts];
    if (powerFactor !== undefined) this.powerFactor = powerFactor;
  }

  /** The state now; energy integrates the power since the previous call. */
  sample(): Truth {
    this.#integrate();
    const phases = this.loads.map((p) => ({
      voltage: this.voltage,
      current: p / (this.voltage * this.powerFactor),
      power: p,
      powerFactor: this.powerFactor,
    }));
    const power = phases.reduce((s, p) => s + p.power, 0);
    const current = phases.reduce((s, p) => s + p.current, 0);
    return {
      voltage: this.voltage,
      current,
      power,
      powerFactor: this.powerFactor,
      frequency: this.frequency,
      energyWh: this.#energyWh,
      phases,
    };
  }

  #integrate() {
    const now = this.clock.now();
    const dt = Math.max(0, now - this.#last);
    this.#last = now;
    const p = this.loads.reduce((s, x) => s + x, 0);
    this.#energyWh += (p * dt) / 3_600_000;
  }
}

/** Multiplicative error of an uncalibrated unit, per quantity (1 = perfect). */
export interface GainError {
  voltage: number;
  current: number;
  power: number;
}
export const PERFECT: GainError = { voltage: 1, current: 1, power: 1 };

/** Faults a test or a user can inject into any simulator. */
export interface Faults {
  /** corrupt the checksum of the next N replies */
  badChecksums: number;
  /** prefix the next N replies with random noise bytes */
  noisyReplies: number;
  /** do not answer at all while true */
  silent: boolean;
}
export const noFaults = (): Faults => ({ badChecksums: 0, noisyReplies: 0, silent: false });
