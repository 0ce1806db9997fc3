/**
 * A realistic installation for the browser suite, built through the real paths
 * (MQTT ingest, energy accounting, inventory and OTA APIs), in FLEET_TZ
 * Europe/Berlin:
 * - 12 bench meters (sim-01..sim-12, one three-phase) of agent "bench-ui", with
 *   31 days of history: the simulated bench is read every 3 h of a clock that
 *   runs from 31 days ago to now, then reads live each second
 * - site "workshop" = sim-01, sim-02, sim-03 (set before the history, so the
 *   site's rollups hold it)
 * - 4 OpenBeken units (simulated, their own MQTT topics) in inventory at site
 *   "plant-1": a new installation, data from today only
 * - a finished rollout (all 4 to 1.18.300) and a running one (1.18.301, paced
 *   at one unit per 10 minutes)
 */
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { ObkSimFleet } from "../../edge-agent/sim/openbeken.ts";
import type { Clock } from "../../shared/clock.ts";
import { systemClock } from "../../shared/clock.ts";
import { createLogger } from "../../shared/log.ts";
import { waitFor } from "../helpers/net.ts";
import type { TestServer } from "../helpers/server.ts";
import { createRollout, json, OLD, registerFleet, rolloutState, startOtaServer, uploadFirmware } from "../ota/fleet.ts";

export const SITE = "workshop";
export const SITE_METERS = ["sim-01", "sim-02", "sim-03"];
export const ZONE = "Europe/Berlin";
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The bench's clock: scripted while the history is written, the real one afterwards. */
class HistoryClock implements Clock {
  at: number | null;
  constructor(start: number) {
    this.at = start;
  }
  now() {
    return this.at ?? Date.now();
  }
  sleep(ms: number, signal?: AbortSignal) {
    return systemClock.sleep(ms, signal);
  }
}

export interface UiFixture {
  srv: TestServer;
  agent: BenchAgent;
  fleet: ObkSimFleet;
  obkTopics: string[];
  unitIds: string[];
  finishedRollout: string;
  runningRollout: string;
  historyFrom: number;
  close(): Promise<void>;
}

export async function startUiFixture(dir: string): Promise<UiFixture> {
  const srv = await startOtaServer({ env: { FLEET_TZ: ZONE } });
  const cleanup: (() => Promise<unknown>)[] = [() => srv.close()];
  try {
    for (const m of SITE_METERS) {
      await json(srv.api(`/api/energy/sites/${m}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ site: SITE }),
      }));
    }

    const now = Date.now();
    const historyFrom = Math.floor((now - 31 * DAY) / HOUR) * HOUR;
    const clock = new HistoryClock(historyFrom);
    const bench = new SimulatedBench(defaultBench(12), { clock, intervalMs: 1000, seed: 3 });
    const agent = await BenchAgent.start({
      agentId: "bench-ui",
      mqttUrl: srv.brokerUrl,
      ...(await srv.agentCredentials("bench-ui")),
      spoolDir: `${dir}/spool`,
      pollers: [bench],
      batchIntervalMs: 100,
      log: createLogger({ level: "error" }),
    });
    cleanup.unshift(() => agent.stop());
    // 3-hour steps: each step's energy lands in hour buckets (shorter spans would write minute buckets).
    // Paced: three steps, then wait until they are accounted. Unpaced, ~3,000 queued readings made one accountant
    // commit exceed Deno KV's 1000 mutations; it was logged and skipped (server/energy/accountant.ts)
    let accounted = 0;
    const off = srv.server.ctx.bus.on("energy.accounted", (e) => void (accounted += e.samples));
    let sent = 0;
    try {
      for (let t = historyFrom; t < now - 3 * HOUR; t += 3 * HOUR) {
        clock.at = t;
        bench.tick();
        sent += 12;
        if (sent % 36 === 0) {
          await waitFor(() => accounted >= sent, { what: "history accounted", timeoutMs: 30_000, intervalMs: 5 });
        }
      }
    } finally {
      off();
    }
    clock.at = null; // live from here on
    await waitFor(async () => {
      const res = await srv.api(
        `/api/energy/series?scope=fleet&level=day&from=${historyFrom}&to=${Date.now()}`,
      );
      const body = await res.json() as { points: unknown[] };
      return body.points.length >= 31;
    }, { what: "31 days of fleet energy accounted", timeoutMs: 120_000, intervalMs: 500 });

    const fleet = await ObkSimFleet.start({
      count: 4,
      firstIndex: 1,
      brokerUrl: srv.brokerUrl,
      credentials: (t) => srv.deviceCredentials(t),
      version: OLD,
      bootMs: 20,
      rebootDelayMs: 0,
      meterIntervalMs: 2000,
    });
    cleanup.unshift(() => fleet.stop());
    await registerFleet(srv, fleet);

    const fw = await uploadFirmware(srv, "1.18.300");
    const finished = await createRollout(srv, {
      name: "spring update",
      firmwareId: fw.id,
      pacingPerMin: 600,
      groups: [{ name: "all", percent: 100, successThreshold: 100, errorThreshold: 0 }],
    });
    await waitFor(async () => (await rolloutState(srv, finished.id)).rollout.status === "finished", {
      what: "first rollout finished",
      timeoutMs: 60_000,
    });
    const fw2 = await uploadFirmware(srv, "1.18.301");
    const running = await createRollout(srv, {
      name: "autumn update",
      firmwareId: fw2.id,
      pacingPerMin: 0.1,
      groups: [
        { name: "canary", percent: 25, successThreshold: 100, errorThreshold: 0 },
        { name: "rest", percent: 75, successThreshold: 80, errorThreshold: 10 },
      ],
    });
    await waitFor(async () => (await rolloutState(srv, running.id)).rollout.status === "running", {
      what: "second rollout running",
    });

    const listed = await json<{ id: string }[] | { units: { id: string }[] }>(srv.api("/api/units"));
    const units = Array.isArray(listed) ? listed : listed.units;
    await waitFor(async () => (await json<{ meters: unknown[] }>(srv.api("/api/meters"))).meters.length >= 16, {
      what: "16 meters reporting",
      timeoutMs: 30_000,
    });
    return {
      srv,
      agent,
      fleet,
      obkTopics: fleet.units.map((u) => u.topic),
      unitIds: units.map((u) => u.id),
      finishedRollout: finished.id,
      runningRollout: running.id,
      historyFrom,
      close: async () => {
        for (const fn of cleanup) await fn().catch(() => {});
      },
    };
  } catch (e) {
    for (const fn of cleanup) await fn().catch(() => {});
    throw e;
  }
}
