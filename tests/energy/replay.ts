/**
 * Replay driver for energy tests: moves the server's ManualClock to each
 * message's time, publishes it on the real broker as the unit would, and
 * waits until the server has accounted it (bus "energy.accounted"), so the
 * receive timestamp is exactly the scripted one.
 */
import type { ManualClock } from "../../shared/clock.ts";
import { waitFor } from "../helpers/net.ts";
import type { TestServer } from "../helpers/server.ts";
import type { ObkUnit } from "./obk_unit.ts";

export class Replayer {
  accounted = 0;
  #expected = 0;
  #off: () => void;
  #wake: (() => void) | null = null;

  constructor(readonly srv: TestServer, readonly clock: ManualClock) {
    this.#off = srv.server.ctx.bus.on("energy.accounted", (e) => {
      this.accounted += e.samples;
      this.#wake?.();
    });
  }

  at(ts: number) {
    if (ts < this.clock.now()) throw new Error("replay time goes backwards");
    this.clock.advance(ts - this.clock.now());
  }

  /** a power or energy message: one sample for the accountant */
  async sample(unit: ObkUnit, leaf: string, payload: string) {
    this.#expected++;
    await unit.value(leaf, payload);
    // event-driven, with a deadline: no polling interval per message
    const deadline = Date.now() + 15_000;
    while (this.accounted < this.#expected) {
      if (Date.now() > deadline) throw new Error(`sample ${unit.topic}/${leaf}=${payload} not accounted`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, 100);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  /** a message that makes no sample (uptime, build, discovery): wait until `done` says it landed */
  async state(publish: () => Promise<unknown>, done: () => Promise<boolean>) {
    await publish();
    await waitFor(done, { what: "state message applied", intervalMs: 2 });
  }

  close() {
    this.#off();
  }
}

/** Daily totals in Wh from the API, keyed by ISO date. */
export async function dailyWh(
  srv: TestServer,
  scope: string,
  id: string,
  from: number,
  to: number,
): Promise<Record<string, number>> {
  const res = await srv.api(
    `/api/energy/series?scope=${scope}&id=${encodeURIComponent(id)}&level=day&from=${from}&to=${to}`,
  );
  if (!res.ok) throw new Error(`series: HTTP ${res.status} ${await res.text()}`);
  const body = await res.json() as { points: { ts: number; wh: number }[] };
  return Object.fromEntries(
    body.points.map((p) => [new Date(p.ts).toISOString().slice(0, 10), Math.round(p.wh * 1000) / 1000]),
  );
}
