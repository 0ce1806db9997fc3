/**
 * Two server instances on one Mosquitto (MQTT shared subscription) and one KV:
 * the telemetry is split between them, one instance is stopped midway, and
 * still every reading is in KV exactly once.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { listHistory } from "../../server/history/store.ts";
import { readIngestCounters } from "../../server/meters/store.ts";
import { createLogger } from "../../shared/log.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { waitFor } from "../helpers/net.ts";
import { RecordingPoller } from "../helpers/recording.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("two server instances share the telemetry through $share and one KV: nothing lost or doubled", async () => {
  await withTempDir(async (dir) => {
    const broker = await startMosquitto();
    // both compact the history often: one at a time holds the lease, and B leaves with it mid-run
    const env = { KV_PATH: `${dir}/fleet.kv`, HISTORY_COMPACT_MS: "150" };
    const a = await startTestServer({ dir: `${dir}/a`, mqttUrl: broker.url, mqttShareGroup: "meterfleet", env });
    const b = await startTestServer({ dir: `${dir}/b`, mqttUrl: broker.url, mqttShareGroup: "meterfleet", env });
    let compacted = 0;
    for (const s of [a, b]) s.server.ctx.bus.on("history.compacted", (e) => void (compacted += e.readings));
    const handled = { a: 0, b: 0 };
    a.server.ctx.bus.on("telemetry.committed", () => void handled.a++);
    b.server.ctx.bus.on("telemetry.committed", () => void handled.b++);

    const agents = [];
    const recorders: RecordingPoller[] = [];
    for (const id of ["bench-x", "bench-y"]) {
      const bench = defaultBench(5).map((m) => ({ ...m, deviceId: `${id}-${m.deviceId}` }));
      const rec = new RecordingPoller(new SimulatedBench(bench, { intervalMs: 50 }));
      recorders.push(rec);
      agents.push(
        await BenchAgent.start({
          agentId: id,
          mqttUrl: broker.url,
          ...(await a.agentCredentials(id)),
          spoolDir: `${dir}/spool-${id}`,
          pollers: [rec],
          batchIntervalMs: 100,
          log: createLogger({ level: "error" }),
          uplink: { ackTimeoutMs: 1500 },
        }),
      );
    }
    let bClosed = false;
    try {
      await sleep(1500);
      assertGreater(handled.a, 0, "instance A got a share");
      assertGreater(handled.b, 0, "instance B got a share");
      await b.close(); // one instance goes away mid-ingest: the broker routes everything to A
      bClosed = true;
      const before = handled.a;
      await sleep(1000);
      assertGreater(handled.a, before);
      for (const ag of agents) await ag.stop({ drainMs: 20_000 });
      await waitFor(async () => {
        for await (const _ of a.kv.list({ prefix: ["ingest_log"] })) return false;
        return true;
      }, { what: "the ingest log compacted into history blocks" });

      const produced = new Set(recorders.flatMap((r) => [...r.produced]));
      const stored = new Set<string>();
      for (const id of ["bench-x", "bench-y"]) {
        for (const m of defaultBench(5)) {
          const dev = `${id}-${m.deviceId}`;
          for (const p of await listHistory(a.kv, dev, 0, Number.MAX_SAFE_INTEGER, 1_000_000)) {
            stored.add(`${dev}@${p.ts}`);
          }
        }
      }
      assertEquals([...produced].filter((r) => !stored.has(r)), [], "lost readings");
      assertEquals(stored.size, produced.size);
      assertEquals(compacted, produced.size, "every reading moved from the log once");
      assertEquals((await readIngestCounters(a.kv)).readings_committed, produced.size, "a reading was committed twice");
    } finally {
      for (const ag of agents) await ag.uplink.close().catch(() => {});
      await a.close();
      if (!bClosed) await b.close();
      await broker.stop();
    }
  });
});
