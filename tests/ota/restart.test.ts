import { assert, assertEquals } from "@std/assert";
import { freePort, waitFor } from "../helpers/net.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { OPEN_STATES } from "../../server/ota/store.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import type { Extension } from "../../server/context.ts";
import {
  canaryAndRest,
  countBy,
  createRollout,
  fastOtaExtensions,
  NEW,
  registerFleet,
  rolloutOver,
  rolloutState,
  startFleet,
  startOtaServer,
  uploadFirmware,
} from "./fleet.ts";

Deno.test("server restart mid-rollout: the new server continues where the old one stopped and commands no unit twice", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const mqttPort = freePort();
    const opts = { dir, port, embeddedMqttPort: mqttPort };
    let srv = await startOtaServer(opts);
    // units take a while to boot, so some are in flight when the server goes down
    const fleet = await startFleet(srv, 60, { bootMs: 150 });
    try {
      const { r } = await rolloutOver(srv, fleet, {
        pacingPerMin: 900, // 15 units/s
        verifyTimeoutMs: 5000,
        groups: canaryAndRest(10, 50, 100),
      });
      const mid = await waitFor(async () => {
        const s = await rolloutState(srv, r.id);
        return countBy(s.devices, (d) => d.state === "verified") >= 10 ? s : null;
      }, { what: "some verified units", timeoutMs: 30_000 });
      const scheduledBefore = countBy(mid.devices, (d) => d.state === "scheduled");
      assert(scheduledBefore > 0, "the restart should happen mid-rollout");
      await srv.close();

      srv = await startOtaServer(opts);
      const done = await waitFor(async () => {
        const s = await rolloutState(srv, r.id);
        const open = s.devices.filter((d) => OPEN_STATES.includes(d.state));
        if (open.length === 0) return s;
        // thrown, not returned: waitFor puts the last one in its timeout message
        throw new Error(
          `rollout ${s.rollout.status}${s.rollout.pauseReason ? ` (${s.rollout.pauseReason})` : ""}, open: ${
            open.slice(0, 5).map((d) => `${d.topic} ${JSON.stringify(d.log)}`).join("; ")
          }`,
        );
      }, { what: "every device in a final state after the restart", timeoutMs: 60_000 });
      const byTopic = new Map(done.devices.map((d) => [d.topic, d]));
      for (const u of fleet.units) {
        const d = byTopic.get(u.topic)!;
        assert(u.otaCommands <= 1, `${u.topic} commanded ${u.otaCommands} times`);
        assertEquals(d.attempts, u.otaCommands, u.topic);
      }
      // the units still waiting at the restart were commanded by the new server and verified
      const verified = countBy(done.devices, (d) => d.state === "verified");
      assert(verified >= 60 - 8, `only ${verified} verified`);
      assertEquals(
        fleet.units.filter((u) => byTopic.get(u.topic)!.state === "verified").every((u) => u.version === NEW),
        true,
      );
      assertEquals(done.rollout.status === "finished" || done.rollout.status === "running", true);
      // commands recorded by the server = commands received by the units: none lost in the restart
      assertEquals(
        done.devices.reduce((s, d) => s + d.attempts, 0),
        fleet.units.reduce((s, u) => s + u.otaCommands, 0),
      );
      assertEquals(done.devices.every((d) => d.attempts === 1), true);
    } finally {
      await fleet.stop();
      await srv.close();
    }
  });
});

Deno.test("units that reconnected while the restarted server was still starting are commanded, though they say nothing more", async () => {
  await withTempDir(async (dir) => {
    const opts = { dir, port: freePort(), embeddedMqttPort: freePort() };
    let srv = await startOtaServer(opts);
    const fleet = await startFleet(srv, 4);
    try {
      await registerFleet(srv, fleet);
      const fw = await uploadFirmware(srv);
      const downAt = Date.now();
      await srv.close();
      // A slow start (bundling islands on a busy host) between the ingests and the OTA engine:
      // the units reconnect, announce themselves once, and are silent by the time the engine runs.
      const heardAgain: Extension = {
        name: "test-slow-start",
        async start(ctx) {
          await waitFor(async () => {
            for (const u of fleet.units) {
              const p = await getUnitPresence(ctx.kv, u.topic);
              if (!p?.online || p.lastSeen <= downAt) return false;
            }
            return true;
          }, { what: "every unit heard from after the restart", timeoutMs: 20_000 });
        },
      };
      const exts = fastOtaExtensions();
      const at = exts.findIndex((e) => e.name === "ota-rollouts");
      exts.splice(at, 0, heardAgain);
      srv = await startOtaServer({ ...opts, extensions: exts });
      const r = await createRollout(srv, {
        firmwareId: fw.id,
        pacingPerMin: 6000,
        verifyTimeoutMs: 10_000,
        groups: canaryAndRest(50, 100, 0),
      });
      const done = await waitFor(async () => {
        const s = await rolloutState(srv, r.id);
        if (s.rollout.status === "finished") return s;
        throw new Error(`rollout ${s.rollout.status}, devices ${s.devices.map((d) => d.state).join(",")}`);
      }, { what: "the rollout to finish", timeoutMs: 20_000 });
      assertEquals(countBy(done.devices, (d) => d.state === "verified"), 4);
      assertEquals(fleet.units.map((u) => [u.version, u.otaCommands]), fleet.units.map(() => [NEW, 1]));
    } finally {
      await fleet.stop();
      await srv.close();
    }
  });
});
