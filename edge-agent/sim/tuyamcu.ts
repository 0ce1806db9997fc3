/**
 * A TuyaMCU meter on a pty, device side (reference §4, seeds 001/003/004):
 * answers heartbeat (00 the first time after boot, then 01), product query,
 * working mode, Wi-Fi state and query state; reports every DP after query
 * state and periodically once told Wi-Fi state 4 ("cloud"). Can reboot
 * (silence, then heartbeat 00 again and forgotten Wi-Fi state).
 * Frames and DPs are built and parsed here, independently of shared/tuyamcu.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, PhysicalMeter, type Truth } from "./physics.ts";
import { PtyDevice, serveUntilSignal } from "./pty_device.ts";

type SimDp = { id: number; type: number; bytes: (t: Truth, s: TuyaMcuSim) => number[] };

const i32 = (x: number) => {
  const v = Math.round(x) | 0;
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
};
const raw8 = (v: number, i: number, p: number, extra: number[] = []) => [
  (v >> 8) & 0xff,
  v & 0xff,
  (i >> 16) & 0xff,
  (i >> 8) & 0xff,
  i & 0xff,
  (p >> 16) & 0xff,
  (p >> 8) & 0xff,
  p & 0xff,
  ...extra,
];
/** kWh × 100 as Tuya meters count it; the value DP wraps at 99 999 999 (the model JSON's max) */
const kwh100 = (t: Truth) => Math.floor(t.energyWh / 10) % 100_000_000;
const phaseRaw = (k: number) => (t: Truth, s: TuyaMcuSim) => {
  const p = t.phases[k] ?? { voltage: 0, current: 0, power: 0 };
  return raw8(
    Math.round(p.voltage * 10 * s.gain.voltage),
    Math.round(p.current * 1000 * s.gain.current),
    Math.round(p.power * s.gain.power),
  );
};
const phaseVal = (k: number, q: "voltage" | "current" | "power", mul: number) => (t: Truth, s: TuyaMcuSim) =>
  i32((t.phases[k]?.[q] ?? 0) * mul * s.gain[q]);
const str = (text: string) => () => [...new TextEncoder().encode(text)];

export const TUYA_SIM_MODELS: Record<string, { product: string; dps: SimDp[] }> = {
  spm02: {
    product: '{"p":"g5n4t0spm02sim","v":"4.0.9","m":0}',
    dps: [
      { id: 1, type: 2, bytes: (t) => i32(kwh100(t)) },
      { id: 6, type: 0, bytes: phaseRaw(0) },
      { id: 7, type: 0, bytes: phaseRaw(1) },
      { id: 8, type: 0, bytes: phaseRaw(2) },
      { id: 9, type: 5, bytes: () => [0] },
      { id: 19, type: 3, bytes: str("SPM02_555D") },
      { id: 29, type: 2, bytes: (t, s) => i32(t.power * s.gain.power) },
      { id: 32, type: 2, bytes: (t) => i32(t.frequency * 100) },
      { id: 50, type: 2, bytes: (t) => i32(t.powerFactor * 100) },
      ...[0, 1, 2].flatMap((k) => [
        { id: 102 + 3 * k, type: 2, bytes: phaseVal(k, "voltage", 10) },
        { id: 103 + 3 * k, type: 2, bytes: phaseVal(k, "current", 1000) },
        { id: 104 + 3 * k, type: 2, bytes: phaseVal(k, "power", 1) },
      ]),
    ],
  },
  smr1: {
    product: '{"p":"pqcmqh1ufgmalru0","v":"1.0.2","m":2}',
    dps: [
      { id: 16, type: 1, bytes: (_t, s) => [s.relay ? 1 : 0] },
      { id: 1, type: 2, bytes: (t) => i32(kwh100(t)) },
      { id: 9, type: 5, bytes: () => [0] },
      { id: 6, type: 0, bytes: phaseRaw(0) },
      { id: 19, type: 3, bytes: str("ETU1-IOT-WIFI\0") },
    ],
  },
  din: {
    product: '{"p":"dinrailsim","v":"1.0.0","m":0}',
    dps: [
      { id: 6, type: 0, bytes: (t, s) => [...phaseRaw(0)(t, s), 0, 0] },
      { id: 16, type: 1, bytes: (_t, s) => [s.relay ? 1 : 0] },
      { id: 1, type: 2, bytes: (t) => i32(kwh100(t)) },
    ],
  },
};

export class TuyaMcuSim extends PtyDevice {
  #rx: number[] = [];
  #heartbeats = 0;
  #silentUntil = 0;
  #nextReport = 0;
  wifiState = -1;
  relay = true;
  reportMs: number;
  version = 3;
  /** counters a test can look at */
  queries = 0;
  received: number[] = [];

  constructor(
    readonly model: keyof typeof TUYA_SIM_MODELS,
    readonly meter: PhysicalMeter,
    public gain: GainError = PERFECT,
    opts: { pty?: Pty; reportMs?: number } = {},
  ) {
    super(opts.pty);
    this.reportMs = opts.reportMs ?? 15000;
  }

  /** MCU reset: silent for `ms`, then a fresh boot (heartbeat 00, Wi-Fi state forgotten). */
  reboot(ms = 300) {
    this.#silentUntil = performance.now() + ms;
    this.#heartbeats = 0;
    this.wifiState = -1;
    this.#rx = [];
  }

  #frame(cmd: number, data: number[]): Uint8Array {
    const b = [0x55, 0xaa, this.version, cmd, (data.length >> 8) & 0xff, data.length & 0xff, ...data];
    b.push(b.reduce((a, x) => a + x, 0) & 0xff);
    return Uint8Array.from(b);
  }

  #dp(d: SimDp, t: Truth): number[] {
    const v = d.bytes(t, this);
    return [d.id, d.type, (v.length >> 8) & 0xff, v.length & 0xff, ...v];
  }

  async reportAll() {
    const t = this.meter.sample();
    // real MCUs send one DP per 0x07 frame (seed 004 log)
    for (const d of TUYA_SIM_MODELS[this.model].dps) await this.reply(this.#frame(0x07, this.#dp(d, t)));
  }

  protected async onBytes(bytes: Uint8Array) {
    if (performance.now() < this.#silentUntil) return; // rebooting: bytes fall on the floor
    this.#rx.push(...bytes);
    for (;;) {
      const h = this.#rx.findIndex((x, k) => x === 0x55 && this.#rx[k + 1] === 0xaa);
      if (h < 0) {
        this.#rx = this.#rx.slice(-1);
        return;
      }
      if (h > 0) this.#rx.splice(0, h);
      if (this.#rx.length < 7) return;
      const len = (this.#rx[4] << 8) | this.#rx[5];
      if (this.#rx.length < 7 + len) return;
      const f = this.#rx.splice(0, 7 + len);
      const sum = f.slice(0, -1).reduce((a, x) => a + x, 0) & 0xff;
      if (sum !== f[f.length - 1]) continue; // a real MCU ignores a bad frame
      await this.#handle(f[3], f.slice(6, 6 + len));
    }
  }

  async #handle(cmd: number, data: number[]) {
    this.received.push(cmd);
    switch (cmd) {
      case 0x00:
        await this.reply(this.#frame(0x00, [this.#heartbeats++ === 0 ? 0 : 1]));
        break;
      case 0x01:
        await this.reply(this.#frame(0x01, [...new TextEncoder().encode(TUYA_SIM_MODELS[this.model].product)]));
        break;
      case 0x02:
        await this.reply(this.#frame(0x02, []));
        break;
      case 0x03:
        this.wifiState = data[0];
        await this.reply(this.#frame(0x03, []));
        break;
      case 0x06: {
        // set DP: the relay is the only writable DP here; echo its new state
        if (data[0] === 16 && data[1] === 1) this.relay = data[4] !== 0;
        const d = TUYA_SIM_MODELS[this.model].dps.find((x) => x.id === data[0]);
        if (d) await this.reply(this.#frame(0x07, this.#dp(d, this.meter.sample())));
        break;
      }
      case 0x08:
        this.queries++;
        await this.reportAll();
        break;
    }
  }

  protected override async tick() {
    const now = performance.now();
    if (now < this.#silentUntil || this.wifiState !== 4 || now < this.#nextReport) return;
    this.#nextReport = now + this.reportMs;
    await this.reportAll();
  }
}

export async function runSimCli(args: string[]) {
  const model = (args[0] ?? "spm02") as keyof typeof TUYA_SIM_MODELS;
  if (!TUYA_SIM_MODELS[model]) throw new Error(`model: one of ${Object.keys(TUYA_SIM_MODELS).join(", ")}`);
  const three = model === "spm02";
  const sim = new TuyaMcuSim(
    model,
    new PhysicalMeter({ loadW: three ? [13, 27, 54] : 60, powerFactor: three ? 0.59 : 1 }),
    PERFECT,
    { reportMs: 5000 },
  );
  await serveUntilSignal(sim, `TuyaMCU ${model} simulator, 9600 baud`);
}
