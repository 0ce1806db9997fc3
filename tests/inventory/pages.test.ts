import { assert, assertEquals } from "@std/assert";
import { buildFakeRbl } from "../../edge-agent/sim/obk-image.ts";
import { createRollout, json, startOtaServer, uploadFirmware } from "../ota/fleet.ts";

Deno.test("pages: inventory with the rework audit, unit detail with its forms, firmware upload form, rollout create and live view", async () => {
  const srv = await startOtaServer();
  try {
    const u = await json<{ id: string }>(srv.api("/api/units", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ mac: "c8:47:8c:aa:bb:01", chip: "BK7231N", topic: "obkAABB01", site: "plant-1" }),
    }));
    const page = async (path: string, init?: RequestInit) => {
      const res = await srv.api(path, init);
      return { status: res.status, html: await res.text() };
    };
    // log a desolder through the unit page's form, then find it in the audit view
    const form = new URLSearchParams({
      form: "rework",
      component: "RN8209C",
      action: "desoldered",
      reason: "free UART1",
    });
    const posted = await page(`/units/${u.id}`, { method: "POST", body: form });
    assertEquals(posted.status, 200);
    assert(posted.html.includes("logged: RN8209C desoldered"));
    const bad = await page(`/units/${u.id}`, {
      method: "POST",
      body: new URLSearchParams({ form: "rework", component: "RN8209C", action: "melted" }),
    });
    assertEquals(bad.status, 400);
    const list = await page("/units?component=RN8209C&state=off");
    assertEquals(list.status, 200);
    assert(/<b>1<\/b> unit\(s\) with RN8209C off/.test(list.html), "audit count");
    assert(list.html.includes(`href="/units/${u.id}"`));
    // logged as the signed-in user, whatever the form says
    const byMe = await page("/units?who=test-admin");
    assert(/data-testid="rework-by"[\s\S]*free UART1/.test(byMe.html), "rework by the signed-in user listed");

    // firmware upload through the page form: corrupt refused, good accepted
    const good = buildFakeRbl({ chip: "BK7231N", version: "1.18.300" });
    const corrupt = good.slice();
    corrupt[200] ^= 1;
    const fd = (bytes: Uint8Array) => {
      const f = new FormData();
      f.set("file", new File([bytes as Uint8Array<ArrayBuffer>], "OpenBK7231N_1.18.300.rbl"));
      return f;
    };
    const refused = await page("/firmware", { method: "POST", body: fd(corrupt) });
    assertEquals(refused.status, 422);
    assert(refused.html.includes("refused: corrupt RBL package"));
    const accepted = await page("/firmware", { method: "POST", body: fd(good) });
    assertEquals(accepted.status, 200);
    assert(accepted.html.includes("registered OpenBK7231N_1.18.300.rbl"));

    const fw = await uploadFirmware(srv, "1.18.301");
    const r = await createRollout(srv, { firmwareId: fw.id, groups: [{ name: "all", percent: 100 }] });
    const detail = await page(`/rollouts/${r.id}`);
    assertEquals(detail.status, 200);
    assert(detail.html.includes("mf-island") && detail.html.includes("obkAABB01"));
    const rolloutList = await page("/rollouts");
    assert(rolloutList.html.includes(r.id));
    // the form: groups as rows; the preview says when no unit matches, and Start refuses
    const rolloutForm = (step: string) =>
      new URLSearchParams({
        name: "x",
        firmwareId: fw.id,
        group_name: "all",
        group_percent: "100",
        group_success: "80",
        group_error: "10",
        site: "nowhere",
        step,
      });
    const noUnits = await page("/rollouts", { method: "POST", body: rolloutForm("preview") });
    assertEquals(noUnits.status, 200);
    assert(noUnits.html.includes("no unit matches"));
    assert(!noUnits.html.includes('data-testid="start"'));
    const noStart = await page("/rollouts", { method: "POST", body: rolloutForm("start") });
    assertEquals(noStart.status, 400);
    assert(noStart.html.includes("no unit matches: nothing to start"));
    assertEquals((await page(`/units/${u.id}`)).status, 200);
    assertEquals((await page("/units/u-nope")).status, 404);
    const noSuch = await page("/units", { method: "POST", body: new URLSearchParams({ adopt: "obkNOPE" }) });
    assertEquals(noSuch.status, 400);
  } finally {
    await srv.close();
  }
});

Deno.test("pages: an OpenBeken unit seen on MQTT but not in inventory can be added from the inventory page", async () => {
  const { startFleet } = await import("../ota/fleet.ts");
  const { waitFor } = await import("../helpers/net.ts");
  const { getUnitPresence } = await import("../../server/openbeken/presence.ts");
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 1, { firstIndex: 900 });
  try {
    const u = fleet.units[0];
    await waitFor(async () => (await getUnitPresence(srv.kv, u.topic))?.mac?.length === 17, {
      what: "unit seen with its MAC",
    });
    const list = await (await srv.api("/units")).text();
    assert(list.includes("Seen on MQTT, not in inventory") && list.includes(u.topic));
    const res = await srv.api("/units", {
      method: "POST",
      body: new URLSearchParams({ adopt: u.topic }),
      redirect: "manual",
    });
    assertEquals(res.status, 303);
    await res.body?.cancel();
    const unit = await (await srv.api(res.headers.get("location")!.replace("/units/", "/api/units/"))).json();
    assertEquals([unit.unit.mac, unit.unit.topic, unit.unit.chip], [u.mac, u.topic, "BK7231N"]);
    assert(!(await (await srv.api("/units")).text()).includes("Seen on MQTT, not in inventory"));
  } finally {
    await fleet.stop();
    await srv.close();
  }
});
