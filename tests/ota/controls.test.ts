import { assert, assertEquals } from "@std/assert";
import { groupSizes, inWindow } from "../../server/ota/store.ts";
import { waitFor } from "../helpers/net.ts";
import {
  countBy,
  createRollout,
  registerFleet,
  rolloutOver,
  rolloutState,
  startFleet,
  startOtaServer,
  uploadFirmware,
} from "./fleet.ts";

Deno.test("maintenance window and group sizes (pure)", () => {
  const at = (h: number, m = 0) => Date.UTC(2026, 10, 21, h, m);
  const night = { start: 22 * 60, end: 5 * 60, zone: "UTC" };
  assertEquals([inWindow(night, at(23)), inWindow(night, at(4, 59)), inWindow(night, at(5)), inWindow(night, at(12))], [
    true,
    true,
    false,
    false,
  ]);
  // 22:00–05:00 at UTC+2 is 20:00–03:00 UTC
  const plus2 = { ...night, zone: "UTC+02:00" };
  assertEquals([inWindow(plus2, at(20, 30)), inWindow(plus2, at(3, 30))], [true, false]);
  // a rollout stored before zones (a fixed offset) still reads the same
  const legacy = { start: 22 * 60, end: 5 * 60, tzOffsetMin: 120 } as unknown as typeof night;
  assertEquals([inWindow(legacy, at(20, 30)), inWindow(legacy, at(3, 30))], [true, false]);
  // Berlin's 22:00 is 20:00 UTC in summer and 21:00 UTC in winter: the window follows the clock on the wall
  const berlin = { ...night, zone: "Europe/Berlin" };
  const jul = (h: number, m = 0) => Date.UTC(2026, 6, 1, h, m);
  assertEquals([inWindow(berlin, jul(20, 30)), inWindow(berlin, jul(2, 59)), inWindow(berlin, jul(3))], [
    true,
    true,
    false,
  ]);
  assertEquals([
    inWindow(berlin, at(20, 30)),
    inWindow(berlin, at(21, 0)),
    inWindow(berlin, at(3, 59)),
    inWindow(berlin, at(4)),
  ], [false, true, true, false]);
  assertEquals(inWindow(null, at(12)), true);
  assertEquals(groupSizes(200, [5, 25, 70]), [10, 50, 140]);
  assertEquals(groupSizes(7, [5, 95]), [1, 6]); // a canary always has a unit
  assertEquals(groupSizes(3, [34, 33, 33]).reduce((a, b) => a + b), 3);
});

Deno.test("operator controls: a future start and a closed window command nothing; pause holds, resume continues, cancel stops the rest", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 12);
  try {
    await registerFleet(srv, fleet);
    const fw = await uploadFirmware(srv);
    const later = await createRollout(srv, {
      firmwareId: fw.id,
      startAt: Date.now() + 3600_000,
      groups: [{ name: "all", percent: 100 }],
    });
    const now = new Date();
    const closedStart = (now.getUTCHours() + 2) % 24;
    const closed = await createRollout(srv, {
      firmwareId: fw.id,
      window: {
        start: `${String(closedStart).padStart(2, "0")}:00`,
        end: `${String((closedStart + 1) % 24).padStart(2, "0")}:00`,
        tzOffsetMin: 0,
      },
      groups: [{ name: "all", percent: 100 }],
    });
    // a window's zone is stored by name (a fixed offset as UTC±hh:mm); an unknown zone or time is refused and nothing is written
    const berlin = await createRollout(srv, {
      firmwareId: fw.id,
      startAt: Date.now() + 3600_000,
      window: { start: "22:00", end: "05:00", timeZone: "Europe/Berlin" },
      groups: [{ name: "all", percent: 100 }],
    });
    assertEquals([closed.window?.zone, berlin.window?.zone], ["UTC", "Europe/Berlin"]);
    const deviceKeys = async () => {
      let n = 0;
      for await (const _ of srv.kv.list({ prefix: ["rollout_device"] })) n++;
      return n;
    };
    const before = await deviceKeys();
    for (
      const [window, says] of [[{ start: "22:00", end: "05:00", timeZone: "Mars/Olympus_Mons" }, "Mars/Olympus_Mons"], [
        { start: "25:00", end: "05:00" },
        "25:00",
      ]] as const
    ) {
      const bad = await srv.api("/api/rollouts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: "bad window",
          baseUrl: srv.url,
          firmwareId: fw.id,
          window,
          groups: [{ name: "all", percent: 100 }],
        }),
      });
      const body = await bad.json();
      assertEquals(bad.status, 400, JSON.stringify(body));
      assert(body.error.includes(says), body.error);
    }
    assertEquals([await deviceKeys(), ((await (await srv.api("/api/rollouts")).json()) as unknown[]).length], [
      before,
      3,
    ]);
    // wait until the engine has looked at both (the windowed one starts, but commands nothing)
    await waitFor(async () => (await rolloutState(srv, closed.id)).rollout.status === "running", {
      what: "windowed rollout running",
    });
    assertEquals((await rolloutState(srv, later.id)).rollout.status, "scheduled");
    for (const id of [later.id, closed.id, berlin.id]) {
      const res = await srv.api(`/api/rollouts/${id}/cancel?by=ana`, { method: "POST" });
      assertEquals(res.status, 200);
      await res.body?.cancel();
      const s = await rolloutState(srv, id);
      assertEquals([s.rollout.status, countBy(s.devices, (d) => d.state === "cancelled")], ["cancelled", 12]);
    }
    assertEquals(fleet.units.every((u) => u.otaCommands === 0), true);

    // slow pacing so pause lands mid-way
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      pacingPerMin: 120,
      groups: [{ name: "all", percent: 100, successThreshold: 100 }],
    });
    await waitFor(async () => countBy((await rolloutState(srv, r.id)).devices, (d) => d.attempts > 0) >= 2, {
      what: "two commanded",
    });
    const p = await srv.api(`/api/rollouts/${r.id}/pause?by=ana`, { method: "POST" });
    assertEquals(p.status, 200);
    await p.body?.cancel();
    await new Promise((res) => setTimeout(res, 200)); // a tick already under way may finish its command
    const atPause = countBy((await rolloutState(srv, r.id)).devices, (d) => d.attempts > 0);
    // a pause is a pause: wait until the engine has certainly ticked many times, nothing more is commanded
    await new Promise((res) => setTimeout(res, 1000));
    assertEquals(countBy((await rolloutState(srv, r.id)).devices, (d) => d.attempts > 0), atPause);
    const bad = await srv.api(`/api/rollouts/${r.id}/pause`, { method: "POST" });
    assertEquals(bad.status, 409);
    await bad.body?.cancel();
    const missing = await srv.api(`/api/rollouts/no-such-rollout/pause`, { method: "POST" });
    assertEquals([missing.status, (await missing.json()).code], [404, "not_found"]);
    const unknown = await srv.api(`/api/rollouts/${r.id}/explode`, { method: "POST" });
    assertEquals(unknown.status, 400);
    await unknown.body?.cancel();
    const res = await srv.api(`/api/rollouts/${r.id}/resume`, { method: "POST" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    await waitFor(async () => countBy((await rolloutState(srv, r.id)).devices, (d) => d.attempts > 0) > atPause, {
      what: "more commanded after resume",
    });
    const c = await srv.api(`/api/rollouts/${r.id}/cancel`, { method: "POST" });
    assertEquals(c.status, 200);
    await c.body?.cancel();
    const s = await rolloutState(srv, r.id);
    const commanded = countBy(s.devices, (d) => d.attempts > 0);
    assert(commanded < 12, "cancel must land before the end");
    assertEquals(countBy(s.devices, (d) => d.state === "cancelled"), 12 - commanded);
    const actions =
      (await (await srv.api(`/api/audit?target=rollout:${r.id}`)).json() as { action: string; actor: string }[]).map((
        a,
      ) => `${a.action}:${a.actor}`);
    // the actor is the signed-in caller; a ?by= in the request changes nothing
    for (const a of ["rollout.pause:test-admin", "rollout.resume:test-admin", "rollout.cancel:test-admin"]) {
      assert(actions.includes(a), a);
    }
    assert(!actions.some((a) => a.endsWith(":ana")), actions.join(", "));
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("a unit whose inventory record says BK7231N but which reports BK7231T is never sent the N image", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 2, { chip: "BK7231T", firstIndex: 700 });
  try {
    await registerFleet(srv, fleet, { chip: "BK7231N" }); // a wrong inventory entry
    const fw = await uploadFirmware(srv);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      groups: [{ name: "all", percent: 100, errorThreshold: 100 }],
    });
    const s = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return countBy(s.devices, (d) => d.state === "failed") === 2 ? s : null;
    }, { what: "both refused" });
    assert(s.devices.every((d) => d.error?.includes("reports chip BK7231T") && d.attempts === 0));
    assertEquals(fleet.units.map((u) => [u.otaCommands, u.version]), [[0, "1.18.299"], [0, "1.18.299"]]);
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("units that never come back time out; a slow download still verifies; an unreachable HTTP unit fails with the reason", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 6, {
    firstIndex: 800,
    behaviourOf: (i) => (i < 2 ? "never_returns" : i < 4 ? "slow_download" : "ok"),
  });
  try {
    const { fw, r } = await rolloutOver(srv, fleet, {
      verifyTimeoutMs: 2500,
      pacingPerMin: 6000,
      groups: [{ name: "all", percent: 100, successThreshold: 60, errorThreshold: 50 }],
    });
    const s = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" ? s : null;
    }, { what: "rollout finished", timeoutMs: 20_000 });
    const state = (i: number) => s.devices.find((d) => d.topic === fleet.units[i].topic)!;
    assertEquals([0, 1].map((i) => state(i).state), ["timed_out", "timed_out"]);
    assert(state(0).error!.includes("no reconnect with 1.18.300"));
    assertEquals([2, 3, 4, 5].map((i) => state(i).state), ["verified", "verified", "verified", "verified"]);
    assert(state(2).log.some((l) => l.state === "downloading"));

    // HTTP delivery to an address where nothing listens
    const dead = await startFleet(srv, 1, { firstIndex: 850 });
    try {
      await registerFleet(srv, dead, { httpAddress: "127.0.0.1:9" });
      const r2 = await createRollout(srv, {
        firmwareId: fw.id,
        delivery: "http",
        filter: { q: dead.units[0].topic },
        groups: [{ name: "all", percent: 100, errorThreshold: 100 }],
      });
      const d = await waitFor(async () => {
        const s = await rolloutState(srv, r2.id);
        return s.devices[0].state === "failed" ? s.devices[0] : null;
      }, { what: "HTTP delivery failure recorded" });
      assert(d.error!.startsWith("HTTP delivery failed"), d.error!);
      assertEquals(dead.units[0].version, "1.18.299");
    } finally {
      await dead.stop();
    }
  } finally {
    await fleet.stop();
    await srv.close();
  }
});
