/**
 * What every real-port poller shares: opening the port with the profile's line
 * settings, reopening when it goes away, turning failures into events, a
 * clean stop, and energy integration for meters without a counter.
 */
import { type Clock, systemClock } from "../../shared/clock.ts";
import { type Reading, readingSchema } from "../../shared/telemetry.ts";
import { openSerial, type SerialPort } from "../serial/mod.ts";
import type { LineSettings } from "../serial/mod.ts";
import type { Poller, PollerEvent, PollerSink } from "./poller.ts";

export interface SerialPollerOptions {
  port: string;
  deviceId: string;
  clock?: Clock;
  /** opening the port (tests and the agent pass openSerial; kept injectable for other transports) */
  open?: (path: string, settings: Partial<LineSettings>) => Promise<SerialPort>;
  /** wait before reopening a port that failed */
  reopenMs?: number;
  /** starting value of the energy counter the agent integrates, Wh */
  energyWh?: number;
}

export abstract class SerialPoller implements Poller {
  readonly name: string;
  protected sink: PollerSink | null = null;
  protected port: SerialPort | null = null;
  protected clock: Clock;
  protected stopped = false;
  #loop: Promise<void> | null = null;
  #abort = new AbortController();
  #integratedWh: number;
  #lastP: { t: number; p: number } | null = null;
  readings = 0;

  constructor(readonly o: SerialPollerOptions, readonly line: Partial<LineSettings>) {
    this.name = `${o.deviceId}@${o.port}`;
    this.clock = o.clock ?? systemClock;
    this.#integratedWh = o.energyWh ?? 0;
  }

  /** Runs until the port fails or stop(); the base class reopens after failures. */
  protected abstract session(port: SerialPort): Promise<void>;

  start(sink: PollerSink) {
    this.sink = sink;
    this.#loop = this.#run();
  }

  async #run() {
    while (!this.stopped) {
      try {
        this.port = await (this.o.open ?? openSerial)(this.o.port, this.line);
        await this.session(this.port);
      } catch (e) {
        if (this.stopped) break;
        this.event("error", "port", `${this.o.port}: ${(e as Error).message}`);
      } finally {
        await this.port?.close().catch(() => {});
        this.port = null;
      }
      if (this.stopped) break;
      await this.clock.sleep(this.o.reopenMs ?? 2000, this.#abort.signal).catch(() => {});
    }
  }

  protected event(level: PollerEvent["level"], code: string, message: string) {
    this.sink?.event({ level, code, message, deviceId: this.o.deviceId, port: this.o.port });
  }

  /** Energy for meters that have no usable counter: ∫P dt, as OpenBeken does for them. */
  protected integrate(powerW: number): number {
    const now = this.clock.now();
    if (this.#lastP) this.#integratedWh += (Math.max(0, this.#lastP.p) * (now - this.#lastP.t)) / 3_600_000;
    this.#lastP = { t: now, p: powerW };
    return this.#integratedWh;
  }

  protected get integratedWh() {
    return this.#integratedWh;
  }

  /** Validated against the telemetry contract; an out-of-range reading becomes an event. */
  protected emit(r: Reading) {
    const ok = readingSchema.safeParse(r);
    if (!ok.success) {
      this.event(
        "warn",
        "bad_reading",
        `reading rejected: ${ok.error.issues[0].path.join(".")}: ${ok.error.issues[0].message}`,
      );
      return;
    }
    this.readings++;
    this.sink?.reading(ok.data);
  }

  async stop() {
    this.stopped = true;
    this.#abort.abort();
    await this.port?.close().catch(() => {});
    await this.#loop;
  }
}
