import { assert, assertEquals } from "@std/assert";
import { freePort, waitFor } from "../helpers/net.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { OPEN_STATES } from "../../server/db/ota.ts";
import { canaryAndRest, countBy, NEW, rolloutOver, rolloutState, startFleet, startOtaServer } from "./fleet.ts";

Deno.test("server restart mid-rollout: the new server continues where the old one stopped and commands no unit twice", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const mqttPort = freePort();
    const opts = { dir, port, embeddedMqttPort: mqttPort };
    let srv = await startOtaServer(opts);
    // units take a while to boot, so some are in flight when the server goes down
    const fleet = await startFleet(srv, 60, { bootMs: 150 });
    try {
      const { fw, r } = await rolloutOver(srv, fleet, {
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
        const open = countBy(s.devices, (d) => OPEN_STATES.includes(d.state));
        return open === 0 ? s : null;
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
      assertEquals(fleet.units.filter((u) => byTopic.get(u.topic)!.state === "verified").every((u) => u.version === NEW), true);
      assertEquals(done.rollout.status === "finished" || done.rollout.status === "running", true);
      // commands recorded by the server = commands received by the units: none lost in the restart
      assertEquals(done.devices.reduce((s, d) => s + d.attempts, 0), fleet.units.reduce((s, u) => s + u.otaCommands, 0));
      assertEquals(done.devices.every((d) => d.attempts === 1), true);
    } finally {
      await fleet.stop();
      await srv.close();
    }
  });
});
