/**
 * Before a rollout: the preview lists the units it would update (count, groups, chip and version mix,
 * online/offline/never seen, what is excluded) and creates nothing. During one: its page says why it is not
 * progressing (units never seen since it started, a closed maintenance window, a pause and its reason).
 */
import { assert, assertEquals } from "@std/assert";
import { waitFor } from "../helpers/net.ts";
import {
  countBy,
  createRollout,
  json,
  OLD,
  registerFleet,
  rolloutState,
  startFleet,
  startOtaServer,
  uploadFirmware,
} from "./fleet.ts";
import type { RolloutPreview } from "../../server/ota/preview.ts";

Deno.test("rollout preview and blockers: never-seen units, a closed window, a pause", async () => {
  const srv = await startOtaServer();
  // units 4 and 5 are in inventory but have never been online
  const fleet = await startFleet(srv, 6, { firstIndex: 900, behaviourOf: (i) => (i >= 4 ? "offline" : "ok") });
  try {
    await registerFleet(srv, fleet);
    await json(srv.api("/api/units", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ mac: "c8:47:8c:99:00:01", chip: "BK7231T", topic: "obkT0001", site: "plant-1" }),
    }));
    const fw = await uploadFirmware(srv);
    const body = {
      name: "preview",
      firmwareId: fw.id,
      pacingPerMin: 3000,
      groups: [{ name: "first", percent: 50 }, { name: "second", percent: 50 }],
    };
    const p = await json<RolloutPreview>(srv.api("/api/rollouts/preview", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }));
    assertEquals([p.count, p.online, p.offline, p.neverSeen], [6, 4, 0, 2]);
    assertEquals(p.groups.map((g) => [g.name, g.size]), [["first", 3], ["second", 3]]);
    assertEquals([p.chips, p.versions, p.excluded.wrongPlatform], [{ BK7231N: 6 }, { [OLD]: 4, unknown: 2 }, 1]);
    assertEquals(
      p.units.filter((u) => !u.online).map((u) => u.topic).sort(),
      [fleet.units[4].topic, fleet.units[5].topic].sort(),
    );
    assertEquals((await json<unknown[]>(srv.api("/api/rollouts"))).length, 0);
    const bad = await srv.api("/api/rollouts/preview", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, groups: [{ name: "x", percent: 40 }] }),
    });
    assertEquals([bad.status, (await bad.json()).error], [400, "groups: group percentages must add up to 100"]);

    // the never-seen units hold the rollout: it says so
    const r = await createRollout(srv, { ...body, groups: [{ name: "all", percent: 100, successThreshold: 100 }] });
    const held = await waitFor(async () => {
      const s = await json<{ blockers: string[]; devices: { state: string }[] }>(srv.api(`/api/rollouts/${r.id}`));
      return countBy(s.devices as never[], (d: { state: string }) => d.state === "verified") === 4 ? s : null;
    }, { what: "the online units verified", timeoutMs: 20_000 });
    assertEquals(held.blockers, ["2 units never seen online since the rollout started"]);
    const page = await (await srv.api(`/rollouts/${r.id}`)).text();
    assert(page.includes("2 units never seen online since the rollout started"));

    // the operator pauses it: the reason is the pause
    await (await srv.api(`/api/rollouts/${r.id}/pause`, { method: "POST" })).body?.cancel();
    const paused = await json<{ blockers: string[] }>(srv.api(`/api/rollouts/${r.id}`));
    assertEquals(paused.blockers[0], "paused: paused by test-admin");

    // a rollout outside its window waits for it, and says until when
    const h = (new Date().getUTCHours() + 2) % 24;
    const hh = (n: number) => `${String(n % 24).padStart(2, "0")}:00`;
    const w = await createRollout(srv, { ...body, window: { start: hh(h), end: hh(h + 1), timeZone: "UTC" } });
    const ws = await waitFor(async () => {
      const s = await rolloutState(srv, w.id);
      return s.rollout.status === "running" ? s : null;
    }, { what: "the windowed rollout running" });
    assertEquals(ws.devices.every((d) => d.state === "scheduled"), true);
    const wb = await json<{ blockers: string[] }>(srv.api(`/api/rollouts/${w.id}`));
    assertEquals(wb.blockers[0], `waiting for the maintenance window ${hh(h)}–${hh(h + 1)} (UTC)`);
  } finally {
    await fleet.stop();
    await srv.close();
  }
});
