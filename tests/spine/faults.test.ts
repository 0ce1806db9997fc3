/**
 * A broker outage and a killed server during ingest: after recovery every
 * reading the agent produced is in KV, and none was counted twice.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { listHistory } from "../../server/history/store.ts";
import { readIngestCounters } from "../../server/meters/store.ts";
import { createLogger } from "../../shared/log.ts";
import { freePort, waitFor } from "../helpers/net.ts";
import { RecordingPoller } from "../helpers/recording.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { startTestServer } from "../helpers/server.ts";
import { processAgentCredentials, spawnServer } from "../helpers/server_process.ts";
import { withTempDir } from "../helpers/tmp.ts";

const quiet = createLogger({ level: "error" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function storedReadings(kv: Deno.Kv, deviceIds: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const id of deviceIds) {
    for (const p of await listHistory(kv, id, 0, Number.MAX_SAFE_INTEGER, 1_000_000)) out.add(`${id}@${p.ts}`);
  }
  return out;
}

function startAgent(brokerUrl: string, creds: object, spoolDir: string, meters = 6) {
  const recorder = new RecordingPoller(new SimulatedBench(defaultBench(meters), { intervalMs: 50 }));
  return BenchAgent.start({
    agentId: "bench-faults",
    mqttUrl: brokerUrl,
    ...creds,
    spoolDir,
    pollers: [recorder],
    batchIntervalMs: 100,
    log: quiet,
    uplink: { ackTimeoutMs: 1500 },
  }).then((agent) => ({ agent, recorder }));
}

Deno.test("server killed (SIGKILL) twice during ingest: nothing lost, nothing doubled", async () => {
  await withTempDir(async (dir) => {
    // compaction every 100 ms, so the kills also land inside it
    const env = {
      DATA_DIR: `${dir}/srv`,
      PORT: String(freePort()),
      MQTT_PORT: String(freePort()),
      HISTORY_COMPACT_MS: "100",
    };
    const creds = await processAgentCredentials(env, "bench-faults");
    let srv = await spawnServer(env);
    const { agent, recorder } = await startAgent(`mqtt://127.0.0.1:${env.MQTT_PORT}`, creds, `${dir}/spool`);
    try {
      for (let round = 0; round < 2; round++) {
        await sleep(700);
        await srv.kill();
        await sleep(600); // the agent keeps reading and spooling while the server is gone
        srv = await spawnServer(env);
      }
      await sleep(500);
      await agent.stop({ drainMs: 30_000 });
      assertEquals(agent.uplink.stats().spooled, 0, "every batch acked after recovery");
      await srv.stop();

      const kv = await Deno.openKv(`${env.DATA_DIR}/meterfleet.kv`);
      try {
        const stored = await storedReadings(kv, defaultBench(6).map((m) => m.deviceId));
        assertGreater(recorder.produced.size, 100);
        assertEquals([...recorder.produced].filter((r) => !stored.has(r)), [], "lost readings");
        assertEquals(stored.size, recorder.produced.size);
        const counters = await readIngestCounters(kv);
        assertEquals(counters.readings_committed, recorder.produced.size, "a reading was committed twice");
      } finally {
        kv.close();
      }
    } finally {
      await agent.uplink.close().catch(() => {});
      await srv.kill();
    }
  });
});

Deno.test("Mosquitto restarted twice during ingest: nothing lost, nothing doubled", async () => {
  await withTempDir(async (dir) => {
    const broker = await startMosquitto();
    const srv = await startTestServer({ mqttUrl: broker.url });
    const { agent, recorder } = await startAgent(
      broker.url,
      await srv.agentCredentials("bench-faults"),
      `${dir}/spool`,
    );
    try {
      for (let round = 0; round < 2; round++) {
        await sleep(600);
        await broker.restart();
      }
      await waitFor(() => srv.server.ctx.mqtt.connected(), { what: "server reconnected" });
      await sleep(500);
      await agent.stop({ drainMs: 30_000 });
      assertEquals(agent.uplink.stats().spooled, 0);
      const stored = await storedReadings(srv.kv, defaultBench(6).map((m) => m.deviceId));
      assertEquals([...recorder.produced].filter((r) => !stored.has(r)), [], "lost readings");
      assertEquals((await readIngestCounters(srv.kv)).readings_committed, recorder.produced.size);
    } finally {
      await agent.uplink.close().catch(() => {});
      await srv.close();
      await broker.stop();
    }
  });
});

Deno.test("agent restarted with a full spool re-sends it in order; the server drops what it already has", async () => {
  await withTempDir(async (dir) => {
    const srv = await startTestServer();
    const creds = await srv.agentCredentials("bench-faults");
    // first run: no broker reachable at all → everything spools
    const dead = `mqtt://127.0.0.1:${freePort()}`;
    const first = await startAgent(dead, creds, `${dir}/spool`);
    await sleep(600);
    await first.agent.stop();
    const spooled = first.agent.uplink.stats().spooled;
    assertGreater(spooled, 3);
    // second run against the real server: old batches go first, then new ones
    const second = await startAgent(srv.brokerUrl, creds, `${dir}/spool`);
    try {
      await sleep(400);
      await second.agent.stop({ drainMs: 20_000 });
      const all = new Set([...first.recorder.produced, ...second.recorder.produced]);
      const stored = await storedReadings(srv.kv, defaultBench(6).map((m) => m.deviceId));
      assertEquals([...all].filter((r) => !stored.has(r)), []);
      assertEquals((await readIngestCounters(srv.kv)).readings_committed, all.size);
    } finally {
      await second.agent.uplink.close().catch(() => {});
      await srv.close();
    }
  });
});

Deno.test("an agent's spool wiped mid-ingest (a reinstalled bench host): every later reading stored exactly once", async () => {
  await withTempDir(async (dir) => {
    const srv = await startTestServer();
    const creds = await srv.agentCredentials("bench-faults");
    const ids = defaultBench(6).map((m) => m.deviceId);
    const first = await startAgent(srv.brokerUrl, creds, `${dir}/spool`);
    let second: Awaited<ReturnType<typeof startAgent>> | null = null;
    try {
      await sleep(800);
      await first.agent.stop(); // no drain: whatever is unacked is in the spool about to be wiped
      const firstAcked = await storedReadings(srv.kv, ids);
      await Deno.remove(`${dir}/spool`, { recursive: true });
      // the same agent id with a fresh spool: its batch numbers start again at 0
      second = await startAgent(srv.brokerUrl, creds, `${dir}/spool`);
      await sleep(800);
      await second.agent.stop({ drainMs: 20_000 });
      assertEquals(second.agent.uplink.stats().spooled, 0);
      assertGreater(second.recorder.produced.size, 50);
      const stored = await storedReadings(srv.kv, ids);
      assertEquals([...second.recorder.produced].filter((r) => !stored.has(r)), [], "later readings lost");
      for (const r of firstAcked) assertEquals(stored.has(r), true);
      // exactly once: every committed reading is a distinct stored one
      assertEquals((await readIngestCounters(srv.kv)).readings_committed, stored.size);
    } finally {
      await first.agent.uplink.close().catch(() => {});
      await second?.agent.uplink.close().catch(() => {});
      await srv.close();
    }
  });
});
