/**
 * Turns TuyaMCU datapoints into telemetry readings using a profile's dp map.
 * DPs arrive one frame at a time and in any order, so values accumulate in a
 * DpState until the driver takes a snapshot.
 */
import type { Datapoint } from "../tuyamcu/dp.ts";
import { decodeRawPower } from "../tuyamcu/raw_power.ts";
import type { PhaseReading, Reading } from "../telemetry.ts";
import { type DeviceProfile, type DpMapping, isRawPhaseDp, type MeterQuantity } from "./types.ts";

type Values = Partial<Record<MeterQuantity, number>>;

export class DpState {
  readonly whole: Values = {};
  readonly phases: Values[] = [{}, {}, {}];
  /** every DP seen, decoded, for display and the mapping assistant */
  readonly lastSeen = new Map<number, Datapoint>();
  relay?: boolean;
  #byDp = new Map<number, DpMapping[]>();

  constructor(readonly profile: DeviceProfile) {
    if (profile.transport.kind !== "tuyamcu") throw new Error(`profile ${profile.id} is not a TuyaMCU meter`);
    for (const m of profile.transport.datapoints) this.#byDp.set(m.dp, [...(this.#byDp.get(m.dp) ?? []), m]);
  }

  /** Applies one DP; returns false when the profile does not map it. */
  apply(d: Datapoint): boolean {
    this.lastSeen.set(d.id, d);
    const maps = this.#byDp.get(d.id);
    if (!maps) return false;
    for (const m of maps) {
      const target = m.phase === undefined ? this.whole : this.phases[m.phase];
      if (isRawPhaseDp(m)) {
        if (d.type !== "raw") continue;
        const r = decodeRawPower(d.bytes, m.decoder, { powerUnitW: m.powerUnitW });
        target.voltage = r.voltage;
        target.current = r.current;
        target.power = r.power;
        if (r.powerFactor !== undefined) target.powerFactor = r.powerFactor;
        if (r.frequency !== undefined) target.frequency = r.frequency;
      } else if (m.quantity === "relay") {
        this.relay = d.value === true || d.value === 1;
      } else if (m.quantity !== "other" && (d.type === "value" || d.type === "enum")) {
        target[m.quantity] = round6((d.value as number) * m.scale);
      }
    }
    return true;
  }

  /** A reading once voltage is known; energy falls back to `integratedWh` when no DP carries it. */
  snapshot(deviceId: string, ts: number, integratedWh: number): Reading | null {
    const three = this.profile.phases === 3;
    const ph: PhaseReading[] = [];
    if (three) {
      for (const p of this.phases) {
        if (p.voltage === undefined) continue;
        const pr: PhaseReading = { voltage: p.voltage, current: p.current ?? 0, power: p.power ?? 0 };
        if (p.powerFactor !== undefined) pr.powerFactor = clampPf(p.powerFactor);
        ph.push(pr);
      }
    }
    const voltage = this.whole.voltage ?? (ph.length ? avg(ph.map((p) => p.voltage)) : undefined);
    if (voltage === undefined) return null;
    const r: Reading = {
      deviceId,
      ts,
      voltage: round6(voltage),
      current: round6(this.whole.current ?? (ph.length ? sum(ph.map((p) => p.current)) : 0)),
      power: round6(this.whole.power ?? (ph.length ? sum(ph.map((p) => p.power)) : 0)),
      energyWh: round6(this.whole.energyWh ?? integratedWh),
    };
    if (this.whole.frequency !== undefined) r.frequency = this.whole.frequency;
    if (this.whole.powerFactor !== undefined) r.powerFactor = clampPf(this.whole.powerFactor);
    if (ph.length) r.phases = ph;
    return r;
  }

  /** True when the profile carries its own energy counter. */
  get hasEnergyDp(): boolean {
    return this.profile.transport.kind === "tuyamcu" &&
      this.profile.transport.datapoints.some((d) => d.quantity === "energyWh");
  }
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
const avg = (a: number[]) => sum(a) / a.length;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
const clampPf = (x: number) => Math.max(-1, Math.min(1, x));
