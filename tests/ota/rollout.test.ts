import { assert, assertEquals } from "@std/assert";
import { waitFor } from "../helpers/net.ts";
import {
  canaryAndRest,
  countBy,
  createRollout,
  NEW,
  pointHttpAt,
  registerFleet,
  rolloutOver,
  rolloutState,
  startFleet,
  startOtaServer,
  uploadFirmware,
} from "./fleet.ts";

Deno.test("rollout over 200 simulated units with 10 % failing: canary advances on success, the error threshold pauses before the last group", async () => {
  const srv = await startOtaServer();
  // every 10th unit boots its old firmware again after the OTA (the bootloader refuses the image)
  const fleet = await startFleet(srv, 200, { behaviourOf: (i) => (i % 10 === 9 ? "bad_image" : "ok") });
  try {
    const { r } = await rolloutOver(srv, fleet, {
      pacingPerMin: 3000,
      groups: [
        { name: "canary", percent: 5, successThreshold: 80, errorThreshold: 20 },
        { name: "early", percent: 25, successThreshold: 80, errorThreshold: 5 },
        { name: "rest", percent: 70, successThreshold: 80, errorThreshold: 5 },
      ],
    });
    assertEquals(r.total, 200);
    assertEquals(r.groups.map((g) => g.total), [10, 50, 140]);

    const paused = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "paused" ? s : null;
    }, { what: "the rollout to pause at the error threshold", timeoutMs: 60_000 });
    assertEquals(paused.rollout.groups.map((g) => g.state), ["succeeded", "error", "waiting"]);
    assert(paused.rollout.pauseReason?.includes("early"));

    // let in-flight devices settle; nothing new is commanded while paused
    const settled = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return countBy(s.devices, (d) => ["commanded", "downloading", "rebooting"].includes(d.state)) === 0 ? s : null;
    }, { what: "in-flight devices to settle", timeoutMs: 30_000 });
    const byUnit = new Map(settled.devices.map((d) => [d.topic, d]));
    const rest = settled.devices.filter((d) => d.group === 2);
    assertEquals(rest.every((d) => d.state === "scheduled" && d.attempts === 0), true);
    for (const u of fleet.units) {
      const d = byUnit.get(u.topic)!;
      // never twice; exactly as often as the server says it commanded
      assertEquals(u.otaCommands, d.attempts, u.topic);
      if (d.group === 2) assertEquals(u.otaCommands, 0);
      if (d.state === "verified") assertEquals(u.version, NEW);
      if (d.state === "failed") {
        assertEquals(u.behaviour, "bad_image");
        assertEquals(u.version, "1.18.299");
        assert(d.error?.includes("rebooted into 1.18.299"));
      }
    }
    const canary = settled.devices.filter((d) => d.group === 0);
    assertEquals(countBy(canary, (d) => d.state === "verified"), 9);
    assertEquals(countBy(canary, (d) => d.state === "failed"), 1);
    assert(countBy(settled.devices, (d) => d.group === 1 && d.state === "failed") >= 3);

    // the audit log recorded the engine's decisions
    const audit = await (await srv.api(`/api/audit?target=rollout:${r.id}`)).json() as { action: string }[];
    const actions = audit.map((a) => a.action);
    for (const a of ["rollout.create", "rollout.start", "rollout.group_succeeded", "rollout.pause"]) {
      assert(actions.includes(a), a);
    }
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("offline units are skipped, then updated when they return; retry_failed retries only the failed ones", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 24, {
    behaviourOf: (i) => (i === 3 || i === 17 ? "offline" : i === 5 ? "bad_image" : "ok"),
  });
  try {
    const { r } = await rolloutOver(srv, fleet, {
      pacingPerMin: 3000,
      groups: canaryAndRest(25, 50, 50),
    });
    const waiting = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      const open = countBy(s.devices, (d) => ["scheduled", "commanded", "downloading", "rebooting"].includes(d.state));
      return open === 0 ? s : null;
    }, { what: "every online unit done", timeoutMs: 30_000 });
    assertEquals(waiting.rollout.status, "running"); // still waiting for the offline ones
    assertEquals(
      waiting.devices.filter((d) => d.state === "skipped_offline").map((d) => d.topic).sort(),
      [fleet.units[3].topic, fleet.units[17].topic].sort(),
    );
    assertEquals(countBy(waiting.devices, (d) => d.state === "failed"), 1);

    await fleet.units[3].comeOnline();
    await fleet.units[17].comeOnline();
    const done = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" ? s : null;
    }, { what: "the rollout to finish once the offline units returned", timeoutMs: 30_000 });
    assertEquals(fleet.units[3].version, NEW);
    assertEquals(fleet.units[17].version, NEW);
    assertEquals(countBy(done.devices, (d) => d.state === "verified"), 23);

    // the failed unit's hardware gets fixed; retry only it
    fleet.units[5].behaviour = "ok";
    const before = fleet.units.map((u) => u.otaCommands);
    const res = await srv.api(`/api/rollouts/${r.id}/retry_failed`, { method: "POST" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    const again = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" && countBy(s.devices, (d) => d.state === "verified") === 24 ? s : null;
    }, { what: "the retried unit verified", timeoutMs: 30_000 });
    assertEquals(again.devices.find((d) => d.topic === fleet.units[5].topic)!.attempts, 2);
    fleet.units.forEach((u, i) => assertEquals(u.otaCommands - before[i], i === 5 ? 1 : 0, u.topic));
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("a group that ends under its success threshold with errors allowed pauses the rollout; resume accepts it and the next group goes", async () => {
  const srv = await startOtaServer();
  // every unit refuses the image until the test knows which units are the canary
  const fleet = await startFleet(srv, 8, { behaviourOf: () => "bad_image" });
  try {
    const { r } = await rolloutOver(srv, fleet, {
      pacingPerMin: 3000,
      // error threshold 100 %: errors alone never pause, so only the shortfall can stop it
      groups: canaryAndRest(25, 50, 100),
    });
    const canaryTopics = new Set(
      (await rolloutState(srv, r.id)).devices.filter((d) => d.group === 0).map((d) => d.topic),
    );
    assertEquals(canaryTopics.size, 2);
    for (const u of fleet.units) if (!canaryTopics.has(u.topic)) u.behaviour = "ok";

    const paused = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "paused" ? s : null;
    }, { what: "the rollout to pause once the canary is done below its threshold", timeoutMs: 30_000 });
    assertEquals(
      paused.rollout.pauseReason,
      `group "canary" is done with 0 of 2 verified, under its 50 % success threshold`,
    );
    assertEquals(paused.rollout.groups.map((g) => g.state), ["error", "waiting"]);
    assertEquals(
      paused.devices.filter((d) => d.group === 1).every((d) => d.state === "scheduled" && d.attempts === 0),
      true,
    );

    const res = await srv.api(`/api/rollouts/${r.id}/resume`, { method: "POST" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    const done = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" ? s : null;
    }, { what: "the rollout to finish after the operator accepted the canary", timeoutMs: 30_000 });
    assertEquals(done.rollout.groups.map((g) => g.state), ["succeeded", "succeeded"]);
    assertEquals(countBy(done.devices, (d) => d.state === "verified"), 6);
    assertEquals(countBy(done.devices, (d) => d.state === "failed"), 2);
    for (const u of fleet.units) assertEquals(u.otaCommands, 1, u.topic);
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("HTTP delivery: POST /api/ota then /api/reboot; verified once the unit reports the new version", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 3, { http: true, firstIndex: 500 });
  try {
    await registerFleet(srv, fleet);
    await pointHttpAt(srv, fleet);
    const fw = await uploadFirmware(srv);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      delivery: "http",
      pacingPerMin: 3000,
      groups: [{ name: "all", percent: 100 }],
    });
    await waitFor(async () => (await rolloutState(srv, r.id)).rollout.status === "finished", {
      what: "HTTP rollout finished",
      timeoutMs: 30_000,
    });
    for (const u of fleet.units) {
      assertEquals([u.version, u.httpOtaUploads, u.otaCommands], [NEW, 1, 0]);
    }
  } finally {
    await fleet.stop();
    await srv.close();
  }
});
