/**
 * `deno task bench ingest [--meters 20000] [--agents 20] [--seconds 30] [--broker embedded|mosquitto]`
 *
 * Drives N simulated meters at 1 Hz from bench agents through a real broker
 * into a server process (its own OS process, so its RSS is its own) and KV.
 * Prints sustained readings/s, p50/p99 publish→ack latency (the server acks
 * after its KV commit, so this bounds publish→commit from above), server RSS
 * and CPU, and — in the same run — the raw rate of batched KV atomic commits
 * on this machine with one key per reading, with the ratio between the two.
 * Also the rate of the server's own block storage alone (its headroom).
 */
import { parseArgs } from "node:util";
import { BenchAgent } from "../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../edge-agent/drivers/simulated.ts";
import { commitParts, IngestCache, splitBatch } from "../server/meters/store.ts";
import { lastSweep, logReadings } from "../server/history/store.ts";
import { createLogger } from "../shared/log.ts";
import type { Reading } from "../shared/telemetry.ts";
import { freePort } from "../tests/helpers/net.ts";
import { startMosquitto } from "../tests/helpers/mosquitto.ts";
import { processAgentCredentials, spawnServer } from "../tests/helpers/server_process.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
}

export async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid: number | "self"): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd on
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

export async function serverPid(port: string): Promise<number> {
  // the server is a child of this process; find it by its PORT in the environment
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const env = await Deno.readTextFile(`/proc/${e.name}/environ`).catch(() => "");
    if (
      env.includes(`\0PORT=${port}\0`) &&
      (await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "")).includes("server/main.ts")
    ) {
      return Number(e.name);
    }
  }
  return NaN;
}

const rawReading = (i: number, ts: number): Reading => ({
  deviceId: `m-${i}`,
  ts,
  voltage: 230.1,
  current: 1.234,
  power: 250.5,
  energyWh: 1234.5,
  frequency: 50,
  powerFactor: 0.9,
});

/** Run `commit` as fast as one writer goes for `seconds`; readings/s. */
async function rawRate(
  path: string,
  seconds: number,
  commit: (kv: Deno.Kv, round: number) => Promise<number>,
): Promise<number> {
  const kv = await Deno.openKv(path);
  let round = 0, readings = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) readings += await commit(kv, round++);
  const rate = readings / ((performance.now() - t0) / 1000);
  kv.close();
  return rate;
}

/**
 * The issue's baseline: batched KV atomic commits, one key per reading
 * (["h", meter, ts], 1000 per commit), as a store without blocks would write.
 */
const perReadingKeys = (ts0: number) => async (kv: Deno.Kv, round: number) => {
  const op = kv.atomic();
  for (let i = 0; i < 1000; i++) op.set(["h", `m-${i}`, ts0 + round * 1000], rawReading(i, ts0 + round * 1000));
  await op.commit();
  return 1000;
};

/** The server's own storage path with nothing in front of it: 400-reading parts through commitParts. */
const sameShape = (ts0: number) => {
  const index = new IngestCache(); // as the server keeps one: meters are claimed once, slots read once
  return async (kv: Deno.Kv, round: number) => {
    const readings = Array.from({ length: 400 }, (_, i) => rawReading(i, ts0 + round * 1000));
    const parts = splitBatch({ v: 1, agentId: "raw", seq: round, readings });
    await commitParts(kv, parts, Date.now(), index);
    return readings.length;
  };
};

export default async function (args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      meters: { type: "string", default: "20000" },
      agents: { type: "string", default: "20" },
      seconds: { type: "string", default: "30" },
      warmup: { type: "string", default: "8" },
      broker: { type: "string", default: "embedded" },
    },
  });
  const meters = Number(values.meters), agentsN = Number(values.agents), seconds = Number(values.seconds);
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-bench-ingest-" });
  const log = createLogger({ level: "error" });
  const mosq = values.broker === "mosquitto" ? await startMosquitto() : null;
  const env: Record<string, string> = {
    DATA_DIR: `${dir}/srv`,
    PORT: String(freePort()),
    MQTT_PORT: String(freePort()),
  };
  if (mosq) env.MQTT_URL = mosq.url;
  const srv = await spawnServer(env);
  const pid = await serverPid(env.PORT);
  const brokerUrl = mosq?.url ?? `mqtt://127.0.0.1:${env.MQTT_PORT}`;

  const latencies: number[] = [];
  let measuring = false;
  const perAgent = Math.ceil(meters / agentsN);
  const agents: BenchAgent[] = [];
  for (let a = 0; a < agentsN; a++) {
    const specs = defaultBench(Math.min(perAgent, meters - a * perAgent), a + 1)
      .map((m, i) => ({ ...m, deviceId: `b${a}-m${i}` }));
    agents.push(
      await BenchAgent.start({
        agentId: `bench-${a}`,
        mqttUrl: brokerUrl,
        ...(await processAgentCredentials(env, `bench-${a}`)), // a token per agent, as an admin would issue
        spoolDir: `${dir}/spool-${a}`,
        pollers: [new SimulatedBench(specs, { intervalMs: 1000, seed: a })],
        batchIntervalMs: 1000,
        log,
        uplink: {
          maxInflight: 256,
          onAck: (_seq, publishedAt) => {
            if (measuring) latencies.push(Date.now() - publishedAt);
          },
        },
      }),
    );
  }
  const committed = async () =>
    (await (await fetch(`${srv.url}/api/health`)).json()).ingest.readings_committed as number;
  console.log(
    `ingest bench: ${meters} meters at 1 Hz from ${agentsN} agents, broker ${values.broker}, ${seconds}s after ${values.warmup}s warm-up`,
  );
  await sleep(Number(values.warmup) * 1000);
  measuring = true;
  const c0 = await committed();
  const cpu0 = [await cpuSeconds(pid), await cpuSeconds("self")];
  const t0 = performance.now();
  let rssMax = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(1000);
    rssMax = Math.max(rssMax, await rssMiB(pid));
  }
  const c1 = await committed();
  const elapsed = (performance.now() - t0) / 1000;
  const [serverCpu, agentsCpu] = [(await cpuSeconds(pid)) - cpu0[0], (await cpuSeconds("self")) - cpu0[1]];
  measuring = false;
  const sustained = (c1 - c0) / elapsed;
  const backlog = agents.reduce((s, a) => s + a.uplink.stats().spooled, 0);
  for (const a of agents) await a.stop();
  await srv.stop();
  await mosq?.stop();
  // did history compaction keep up? what it left in the log, and its last sweep
  const srvKv = await Deno.openKv(`${env.DATA_DIR}/meterfleet.kv`);
  let logLeft = 0, logReadingsLeft = 0;
  for await (const e of srvKv.list<Uint8Array>({ prefix: ["ingest_log"] })) {
    logLeft++;
    logReadingsLeft += logReadings(e.value)?.length ?? 0;
  }
  const sweep = await lastSweep(srvKv);
  srvKv.close();

  const raw = await rawRate(`${dir}/raw-keys.kv`, 8, perReadingKeys(Date.now()));
  const rawShape = await rawRate(`${dir}/raw-shape.kv`, 8, sameShape(Date.now()));
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 0.5), p99 = percentile(latencies, 0.99);
  console.log(`offered load          ${meters.toLocaleString()} readings/s`);
  console.log(
    `sustained ingest      ${Math.round(sustained).toLocaleString()} readings/s  (${
      (sustained / meters * 100).toFixed(1)
    } % of offered; target ≥ 20,000)`,
  );
  console.log(`publish→ack p50 / p99 ${p50} ms / ${p99} ms  (${latencies.length} batches; target p99 < 1000 ms)`);
  console.log(`agent backlog at end  ${backlog} spooled batches`);
  console.log(`server RSS (max)      ${rssMax.toFixed(0)} MiB`);
  console.log(
    `CPU (2 cores here)     server ${(serverCpu / elapsed * 100).toFixed(0)} % of a core (${
      (serverCpu / (c1 - c0) * 1e6).toFixed(0)
    } µs a reading, broker included when embedded), bench agents ${(agentsCpu / elapsed * 100).toFixed(0)} %`,
  );
  console.log(
    `history compaction     last sweep ${
      sweep
        ? `${sweep.readings.toLocaleString()} readings into ${sweep.blocks.toLocaleString()} blocks in ${sweep.ms} ms`
        : "none"
    }; left in the log at the end: ${logLeft} entries, ${logReadingsLeft.toLocaleString()} readings (${
      (logReadingsLeft / meters).toFixed(1)
    } s of ingest)`,
  );
  console.log(
    `raw KV, key per reading  ${
      Math.round(raw).toLocaleString()
    } readings/s  (1000 sets per atomic commit, one writer)`,
  );
  console.log(`ratio ingest / raw KV     ${(sustained / raw).toFixed(2)}  (target ≥ 0.5)`);
  console.log(
    `raw KV, ingest's blocks   ${
      Math.round(rawShape).toLocaleString()
    } readings/s  (commitParts alone: log + latest blocks, ledger check)`,
  );
  console.log(
    `storage headroom          ${
      (rawShape / sustained).toFixed(1)
    }×  (what the block store takes alone over what ingest sustained)`,
  );
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
