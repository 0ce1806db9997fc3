/**
 * Randomised fault runs during ingest: the server process, the broker
 * (Mosquitto) and the bench agent process are killed with SIGKILL at random
 * points and restarted, while a simulated bench keeps producing. Must hold
 * afterwards: every reading the agent made durable (its spool journal) is in KV,
 * and no reading was committed twice. (Readings still in a killed agent's memory,
 * at most one 100 ms batch window, were never durable and are not counted.) Figures printed; FAULT_SEED replays a run.
 */
import { assert, assertEquals } from "@std/assert";
import { defaultBench } from "../../edge-agent/drivers/simulated.ts";
import { listHistory } from "../../server/history/store.ts";
import { readIngestCounters } from "../../server/meters/store.ts";
import { freePort } from "../helpers/net.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { processAgentCredentials, spawnServer } from "../helpers/server_process.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { seededRandom } from "../../shared/random.ts";

const SEED = Number(Deno.env.get("FAULT_SEED") ?? (Date.now() & 0x7fffffff));
const RUNS = Number(Deno.env.get("FAULT_RUNS") ?? 2);
const FAULTS_PER_RUN = Number(Deno.env.get("FAULTS_PER_RUN") ?? 6);
const METERS = 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startAgentProcess(args: string[], token: string) {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./agent_child.ts", import.meta.url).pathname, ...args],
    env: { AGENT_TOKEN: token },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready")) {
    const r = await reader.read();
    if (r.done) throw new Error("agent process exited before ready");
    out += r.value;
  }
  return {
    kill: async () => {
      proc.kill("SIGKILL");
      await proc.status;
      await reader.cancel().catch(() => {});
    },
    /** graceful: drain, then exit; returns what it printed */
    stop: async () => {
      proc.kill("SIGTERM");
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        out += r.value;
      }
      await proc.status;
      return out;
    },
  };
}

Deno.test("random kills of server, broker and agent during ingest: no reading lost, none doubled", async () => {
  const r = seededRandom(SEED);
  const totals = { runs: 0, faults: { server: 0, broker: 0, agent: 0 }, journaled: 0, stored: 0, extra: 0 };
  console.log(`fault seed ${SEED} (replay: FAULT_SEED=${SEED}), ${RUNS} runs × ${FAULTS_PER_RUN} faults`);
  for (let run = 0; run < RUNS; run++) {
    await withTempDir(async (dir) => {
      const broker = await startMosquitto();
      const env = {
        DATA_DIR: `${dir}/srv`,
        PORT: String(freePort()),
        MQTT_URL: broker.url,
        INSTANCE_ID: `fault-${run}`,
      };
      const agentId = `bench-fault-${run}`;
      const creds = await processAgentCredentials(env, agentId);
      const journal = `${dir}/journal`;
      const agentArgs = [agentId, broker.url, `${dir}/spool`, journal, String(METERS)];
      let srv = await spawnServer(env);
      let agent = await startAgentProcess(agentArgs, creds.token);
      const faults: string[] = [];
      try {
        for (let f = 0; f < FAULTS_PER_RUN; f++) {
          await sleep(200 + Math.floor(r() * 900));
          const which = (["server", "broker", "agent"] as const)[Math.floor(r() * 3)];
          const downMs = Math.floor(r() * 700);
          faults.push(which === "broker" ? "broker" : `${which}(down ${downMs}ms)`);
          totals.faults[which]++;
          if (which === "server") {
            await srv.kill();
            await sleep(downMs);
            srv = await spawnServer(env);
          } else if (which === "broker") {
            await broker.restart(); // SIGKILL and relaunch on the same port
          } else {
            await agent.kill();
            await sleep(downMs);
            agent = await startAgentProcess(agentArgs, creds.token);
          }
        }
        await sleep(500);
        const out = await agent.stop(); // graceful: spools the last readings and waits until all are acked
        assert(out.includes("spooled 0"), `agent did not drain: ${out.trim()}`);
        await srv.stop();
      } finally {
        await agent.kill().catch(() => {});
        await srv.kill().catch(() => {});
        await broker.stop();
      }
      const journaled = new Set((await Deno.readTextFile(journal)).split("\n").filter(Boolean));
      const left = [...Deno.readDirSync(`${dir}/spool`)].filter((e) => e.name.endsWith(".cbor"));
      assertEquals(left.map((e) => e.name), [], "batches left in the spool");
      const kv = await Deno.openKv(`${env.DATA_DIR}/meterfleet.kv`);
      try {
        const stored = new Set<string>();
        for (const m of defaultBench(METERS)) {
          for (const p of await listHistory(kv, m.deviceId, 0, Number.MAX_SAFE_INTEGER, 1_000_000)) {
            stored.add(`${m.deviceId}@${p.ts}`);
          }
        }
        const lost = [...journaled].filter((k) => !stored.has(k));
        assertEquals(
          lost.length,
          0,
          `run ${run}: ${lost.length} journaled readings not in KV (faults ${faults.join(", ")})`,
        );
        const counters = await readIngestCounters(kv);
        assertEquals(
          counters.readings_committed,
          stored.size,
          `run ${run}: a reading committed twice (faults ${faults.join(", ")})`,
        );
        // stored but not journaled: spooled in the instant between the spool write and the journal line (agent killed there)
        const extra = stored.size - journaled.size;
        assert(
          extra >= 0 && extra <= totals.faults.agent * 400,
          `run ${run}: ${extra} readings in KV that the agent never spooled`,
        );
        assert(journaled.size > 50, "too few readings to mean anything");
        totals.journaled += journaled.size;
        totals.stored += stored.size;
        totals.extra += extra;
        totals.runs++;
        console.log(
          `  run ${run}: faults ${faults.join(", ")}; ${journaled.size} readings spooled, ${stored.size} in KV, ` +
            `${counters.batches_committed} batches committed, ${counters.batches_duplicate} duplicates dropped`,
        );
      } finally {
        kv.close();
      }
    });
  }
  const f = totals.faults;
  console.log(
    `fault runs: ${totals.runs}, faults injected ${
      f.server + f.broker + f.agent
    } (server ${f.server}, broker ${f.broker}, ` +
      `agent ${f.agent}), readings ${totals.stored} stored, 0 lost, 0 doubled, ${totals.extra} committed-but-unjournaled`,
  );
});
