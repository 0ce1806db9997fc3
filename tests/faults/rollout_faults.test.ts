/**
 * Randomised faults during an OTA rollout: the server process (and with it the
 * embedded broker every OpenBeken unit is connected to) is SIGKILLed at random
 * points and restarted while 30 simulated units are being updated over MQTT.
 * Must hold: no unit is ever commanded twice, and the rollout is not stuck —
 * every device reaches a final state. FAULT_SEED replays a run.
 */
import { assert, assertEquals } from "@std/assert";
import { ObkSimFleet } from "../../edge-agent/sim/openbeken.ts";
import { unitSecret } from "../../server/auth/tokens.ts";
import { unitMqttCredentials } from "../../shared/obk-config.ts";
import { freePort, waitFor } from "../helpers/net.ts";
import { spawnServer } from "../helpers/server_process.ts";
import type { TestServer } from "../helpers/server.ts";
import { fetchAs, testSession } from "../helpers/auth.ts";
import { withTempDir } from "../helpers/tmp.ts";
import {
  canaryAndRest,
  countBy,
  createRollout,
  NEW,
  OLD,
  registerFleet,
  rolloutState,
  uploadFirmware,
} from "../ota/fleet.ts";
import { seededRandom } from "../../shared/random.ts";
import { OPEN_STATES } from "../../server/ota/store.ts";

const SEED = Number(Deno.env.get("FAULT_SEED") ?? (Date.now() & 0x7fffffff));
const UNITS = 30;
const KILLS = Number(Deno.env.get("ROLLOUT_KILLS") ?? 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("random server kills during an OTA rollout: no unit commanded twice, the rollout never stuck", async () => {
  const r = seededRandom(SEED);
  await withTempDir(async (dir) => {
    const env = { DATA_DIR: `${dir}/srv`, PORT: String(freePort()), MQTT_PORT: String(freePort()), OTA_TICK_MS: "50" };
    await Deno.mkdir(env.DATA_DIR, { recursive: true });
    const kv = await Deno.openKv(`${env.DATA_DIR}/meterfleet.kv`);
    // units authenticate with flash-time credentials derived from the fleet secret (no per-unit list)
    const secret = (await unitSecret(kv, true))!;
    const session = await testSession(kv, "admin");
    const url = `http://127.0.0.1:${env.PORT}`;
    // the fleet helpers only need api(), kv and url of a server
    const srvView = {
      api: (p: string, i?: RequestInit) => fetchAs(url, session, p, i),
      kv,
      url,
    } as unknown as TestServer;
    let srv = await spawnServer(env);
    const fleet = await ObkSimFleet.start({
      count: UNITS,
      brokerUrl: `mqtt://127.0.0.1:${env.MQTT_PORT}`,
      credentials: async (t) => {
        const c = await unitMqttCredentials(secret, t);
        return { username: c.user, password: c.password };
      },
      version: OLD,
      bootMs: 150,
      rebootDelayMs: 0,
      // energy meters publish their values periodically (OpenBeken forces one at least every 60 s); the engine
      // commands a unit only once it has heard from it since its own start, so a silent sim would wait forever
      meterIntervalMs: 500,
    });
    const kills: string[] = [];
    try {
      await registerFleet(srvView, fleet);
      const fw = await uploadFirmware(srvView);
      const ro = await createRollout(srvView, {
        firmwareId: fw.id,
        pacingPerMin: 600, // 10 units/s: the rollout spans the kills
        verifyTimeoutMs: 8000,
        groups: canaryAndRest(10, 50, 100),
      });
      for (let k = 0; k < KILLS; k++) {
        await sleep(300 + Math.floor(r() * 1200));
        const s = await rolloutState(srvView, ro.id).catch(() => null);
        const verified = s ? countBy(s.devices, (d) => d.state === "verified") : -1;
        const down = Math.floor(r() * 800);
        await srv.kill();
        kills.push(`kill at ${verified} verified, down ${down} ms`);
        await sleep(down);
        srv = await spawnServer(env);
      }
      let last: Awaited<ReturnType<typeof rolloutState>> | null = null;
      const resumes: string[] = [];
      const done = await waitFor(async () => {
        const s = last = await rolloutState(srvView, ro.id);
        if (s.rollout.status === "paused") {
          // a canary of 3 can lose 2 units to the kills: the engine pauses for an operator, who accepts and goes on
          resumes.push(s.rollout.pauseReason ?? "?");
          const res = await srvView.api(`/api/rollouts/${ro.id}/resume`, { method: "POST" });
          assertEquals(res.status, 200, await res.text());
          return null;
        }
        return countBy(s.devices, (d) => OPEN_STATES.includes(d.state)) === 0 ? s : null;
      }, { what: "every device in a final state", timeoutMs: 60_000 }).catch((e) => {
        const open = last?.devices.filter((d) => OPEN_STATES.includes(d.state)).map((d) => {
          const u = fleet.units.find((x) => x.topic === d.topic)!;
          return `${d.topic}:${d.state} attempts ${d.attempts}, unit online ${u.online} version ${u.version} commands ${u.otaCommands}`;
        });
        throw new Error(
          `${(e as Error).message} (FAULT_SEED=${SEED}): rollout ${last?.rollout.status} stuck (${
            kills.join("; ")
          }; resumed after ${JSON.stringify(resumes)}), open: ${open?.join(" | ")}`,
        );
      });
      // and the rollout itself comes to rest (finished, or paused by a threshold for an operator)
      const rest = await waitFor(async () => {
        const s = await rolloutState(srvView, ro.id);
        return ["finished", "paused"].includes(s.rollout.status) ? s.rollout.status : null;
      }, { what: "rollout finished or paused", timeoutMs: 30_000 });
      const byTopic = new Map(done.devices.map((d) => [d.topic, d]));
      const twice = fleet.units.filter((u) => u.otaCommands > 1).map((u) => `${u.topic}×${u.otaCommands}`);
      assertEquals(twice, [], "units commanded more than once");
      for (const u of fleet.units) {
        const d = byTopic.get(u.topic)!;
        assert(d.attempts <= 1, `${u.topic}: ${d.attempts} attempts recorded`);
        // a recorded attempt may have died with the server before it was published (at most once), never the reverse
        assert(u.otaCommands <= d.attempts, `${u.topic}: commanded but not recorded`);
        if (d.state === "verified") assertEquals(u.version, NEW, `${u.topic} verified without the new version`);
      }
      const states: Record<string, number> = {};
      for (const d of done.devices) states[d.state] = (states[d.state] ?? 0) + 1;
      const lostCommands = done.devices.reduce((s, d) => s + d.attempts, 0) -
        fleet.units.reduce((s, u) => s + u.otaCommands, 0);
      console.log(
        `rollout fault run (seed ${SEED}): ${UNITS} units, ${kills.length} server kills (${kills.join("; ")}); ` +
          `final states ${JSON.stringify(states)}, rollout ${rest} (operator resumed after ${
            JSON.stringify(resumes)
          }), 0 units commanded twice, ` +
          `${lostCommands} recorded commands lost with a killed server`,
      );
    } finally {
      await fleet.stop();
      await srv.kill();
      kv.close();
    }
  });
});
