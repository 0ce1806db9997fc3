/**
 * The live view the browser streams: one snapshot of every meter's latest
 * committed reading, read from KV once per interval while anyone watches and
 * fanned out to all subscribers. Reading from KV (not from this process's
 * ingest) is what lets any server instance serve any browser.
 */
import { listLatest } from "./db/meters.ts";
import type { FleetSnapshot, MeterLatest } from "../shared/fleet.ts";

export function toSnapshot(meters: MeterLatest[], at: number): FleetSnapshot {
  meters.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  return { at, totalPowerW: meters.reduce((s, m) => s + m.reading.power, 0), meters };
}

export class LiveFeed {
  #subscribers = new Set<(s: FleetSnapshot) => void>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #last: FleetSnapshot | null = null;

  constructor(private kv: Deno.Kv, private intervalMs = 1000) {}

  subscribe(fn: (s: FleetSnapshot) => void): () => void {
    this.#subscribers.add(fn);
    if (this.#last) fn(this.#last);
    if (this.#timer === null) {
      void this.#tick();
      this.#timer = setInterval(() => void this.#tick(), this.intervalMs);
    }
    return () => {
      this.#subscribers.delete(fn);
      if (this.#subscribers.size === 0) this.stop();
    };
  }

  stop() {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#last = null;
  }

  async #tick() {
    try {
      const snap = toSnapshot(await listLatest(this.kv), Date.now());
      this.#last = snap;
      for (const fn of this.#subscribers) fn(snap);
    } catch {
      // KV closed during shutdown, or briefly unavailable: the next tick tries again
    }
  }
}
