/** Collects what a poller reports and lets a test wait for a condition (no timed assertions). */
import type { PollerEvent, PollerSink } from "../../edge-agent/drivers/poller.ts";
import type { Reading } from "../../shared/telemetry.ts";

export class Collector implements PollerSink {
  readings: Reading[] = [];
  events: PollerEvent[] = [];
  #waiters: { pred: () => boolean; resolve: () => void }[] = [];
  reading(r: Reading) {
    this.readings.push(r);
    this.#check();
  }
  event(e: PollerEvent) {
    this.events.push(e);
    this.#check();
  }
  #check() {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }
  /** Resolves when `pred` holds; a generous safety net keeps a broken driver from hanging the suite. */
  until(pred: () => boolean, what: string, safetyMs = 20000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`gave up waiting for: ${what}`)), safetyMs);
      this.#waiters.push({ pred, resolve: () => (clearTimeout(t), resolve()) });
    });
  }
  get last(): Reading | undefined {
    return this.readings[this.readings.length - 1];
  }
}
