import { assert, assertEquals } from "@std/assert";
import { startOtaServer } from "../ota/fleet.ts";

const jsonPost = (body: unknown, method = "POST"): RequestInit => ({
  method,
  headers: { "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

Deno.test("inventory API: bench registration, edits with history, rework log and the RN8209C audit as JSON and CSV", async () => {
  const srv = await startOtaServer();
  try {
    const units: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await srv.api(
        "/api/units/bench",
        jsonPost({
          mac: `c8478c0000${i}0`,
          chip: "BK7231N",
          benchHost: "bench-a",
          backupId: `bk-${i}`,
          firmware: "OpenBK7231N_QIO_1.18.299.bin",
          model: "zmai-90",
        }),
      );
      assertEquals(r.status, 200);
      units.push((await r.json()).id);
    }
    for (const [i, id] of units.entries()) {
      const r = await srv.api(
        `/api/units/${id}/rework`,
        jsonPost({
          component: "RN8209C",
          action: "desoldered",
          reason: "UART1 blocked, 'quoted, with comma'",
        }),
      );
      assertEquals(r.status, 201);
      await r.body?.cancel();
      if (i % 2 === 0) {
        await (await srv.api(
          `/api/units/${id}/rework`,
          jsonPost({ component: "RN8209C", action: "resoldered" }),
        )).body?.cancel();
      }
    }
    const audit = await (await srv.api("/api/rework/audit?component=RN8209C&state=off")).json();
    assertEquals(audit.units.map((u: { unitId: string }) => u.unitId).sort(), [units[1], units[3], units[5]].sort());
    const csv = await (await srv.api("/api/rework/audit?component=RN8209C&state=off&format=csv")).text();
    const lines = csv.trim().split("\r\n");
    assertEquals(lines.length, 4);
    assert(lines[0].startsWith("unit,mac,topic"));
    const log = await (await srv.api("/api/rework.csv")).text();
    assert(log.includes(`"UART1 blocked, 'quoted, with comma'"`));
    assertEquals(log.trim().split("\r\n").length, 1 + 6 + 3);

    // edits keep history; bad input is refused and loses nothing
    const patched = await srv.api(
      `/api/units/${units[0]}`,
      jsonPost({ site: "plant-9", topic: "kitchen", reason: "installed" }, "PATCH"),
    );
    assertEquals(patched.status, 200);
    await patched.body?.cancel();
    const dup = await srv.api(`/api/units/${units[1]}`, jsonPost({ topic: "kitchen" }, "PATCH"));
    assertEquals(dup.status, 409);
    await dup.body?.cancel();
    for (
      const [path, init] of [
        [`/api/units/${units[1]}/rework`, jsonPost({ component: "RN8209C", action: "melted" })],
        [`/api/units/${units[1]}/rework`, jsonPost("{not json")],
        ["/api/units", jsonPost({ mac: "nope" })],
        [`/api/units/u-doesnotexist/rework`, jsonPost({ component: "RN8209C", action: "desoldered" })],
      ] as const
    ) {
      const r = await srv.api(path, init);
      assert(r.status === 400 || r.status === 404, `${path} → ${r.status}`);
      await r.body?.cancel();
    }
    const detail = await (await srv.api(`/api/units/${units[0]}`)).json();
    assertEquals(detail.unit.site, "plant-9");
    assertEquals(detail.unit.firmwareReported, "1.18.299");
    assertEquals(detail.rework.map((r: { action: string }) => r.action), ["desoldered", "resoldered"]);
    assertEquals(detail.revisions.at(-1).before.site, null);
    assertEquals((await (await srv.api(`/api/units/${units[1]}`)).json()).rework.length, 1);
    const filtered = await (await srv.api("/api/units?site=plant-9")).json();
    assertEquals(filtered.map((u: { id: string }) => u.id), [units[0]]);
  } finally {
    await srv.close();
  }
});
