import { assertEquals, assertGreater } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { countHistory } from "../../server/history/store.ts";
import { createLogger } from "../../shared/log.ts";
import type { FleetSnapshot } from "../../shared/fleet.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";
import { withTempDir } from "../helpers/tmp.ts";

const quiet = createLogger({ level: "error" });

Deno.test("agent → aedes → server → KV → API: every simulated meter appears with live values", async () => {
  await withTempDir(async (dir) => {
    const srv = await startTestServer({ env: { HISTORY_COMPACT_MS: "300" } }); // compaction runs during the test
    // after each commit round ingest says how much waits behind it (background work yields to it)
    const backlog: number[] = [];
    srv.server.ctx.bus.on("ingest.backlog", (e) => void backlog.push(e.readings));
    const bench = new SimulatedBench(defaultBench(12), { intervalMs: 100 });
    const agent = await BenchAgent.start({
      agentId: "bench-t1",
      mqttUrl: srv.brokerUrl,
      ...(await srv.agentCredentials("bench-t1")),
      spoolDir: `${dir}/spool`,
      pollers: [bench],
      batchIntervalMs: 100,
      log: quiet,
    });
    try {
      const snap = await waitFor(async () => {
        const s = await (await srv.api("/api/meters")).json() as FleetSnapshot;
        return s.meters.length === 12 ? s : null;
      }, { what: "12 meters in /api/meters" });
      assertEquals(snap.meters.map((m) => m.deviceId), defaultBench(12).map((m) => m.deviceId));
      assertEquals(snap.meters.every((m) => m.agentId === "bench-t1"), true);
      assertGreater(backlog.length, 0);
      assertEquals(backlog.every((n) => Number.isInteger(n) && n >= 0), true);
      const total = snap.meters.reduce((s, m) => s + m.reading.power, 0);
      assertEquals(Math.abs(snap.totalPowerW - total) < 1e-6, true);
      const three = snap.meters.find((m) => m.reading.phases)!;
      assertEquals(three.reading.phases!.length, 3);

      // values move: energy integrates between two snapshots of one meter
      const first = snap.meters[5].reading;
      const later = await waitFor(async () => {
        const m = await (await srv.api(`/api/meters/${first.deviceId}`)).json();
        return m.reading.ts > first.ts + 300 ? m.reading : null;
      });
      assertGreater(later.energyWh, first.energyWh);

      const hist = await (await srv.api(`/api/meters/${first.deviceId}/history?from=0&to=${Date.now() + 1000}`)).json();
      assertGreater(hist.points.length, 3);
      assertEquals(hist.points.length, await countHistory(srv.kv, first.deviceId));
      // oldest first
      assertEquals(
        hist.points.map((p: { ts: number }) => p.ts),
        [...hist.points.map((p: { ts: number }) => p.ts)].sort(),
      );

      const health = await (await srv.api("/api/health")).json();
      assertEquals(health.status, "ok");
      assertGreater(health.ingest.batches_committed, 3);
      assertEquals(health.ingest.batches_rejected, 0);
      assertEquals(await agent.uplink.drained(10_000), true);

      // the compactor reports its sweeps, and the history reads the same from blocks as from the log
      const sweep = await waitFor(async () => (await (await srv.api("/api/health")).json()).history.lastSweep, {
        what: "a compaction sweep",
      });
      assertGreater(sweep.readings, 0);
      assertEquals(sweep.instance, srv.config.instanceId);
      const again = await (await srv.api(`/api/meters/${first.deviceId}/history?from=0&to=${Date.now() + 1000}`))
        .json();
      assertEquals(again.points.slice(0, hist.points.length), hist.points);
    } finally {
      await agent.stop();
      await srv.close();
    }
  });
});

Deno.test("history API validates its parameters", async () => {
  const srv = await startTestServer();
  try {
    assertEquals((await srv.api("/api/meters/sim-01/history?from=abc")).status, 400);
    assertEquals((await srv.api("/api/meters/sim-01/history?from=10&to=5")).status, 400);
    assertEquals((await srv.api("/api/meters/bad%2Bid/history")).status, 400);
    const ok = await srv.api("/api/meters/sim-01/history?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z");
    assertEquals(ok.status, 200);
    assertEquals((await ok.json()).points, []);
    assertEquals((await srv.api("/api/meters/nope")).status, 404);
    await (await srv.api("/api/meters/nope")).body?.cancel();
  } finally {
    await srv.close();
  }
});
