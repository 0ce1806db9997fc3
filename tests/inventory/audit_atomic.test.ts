/**
 * A unit write and its audit entry are one commit, written by the data module for every caller (API and pages):
 * each write leaves exactly one entry naming the signed-in actor, and a write refused midway leaves none.
 */
import { assertEquals } from "@std/assert";
import { listAudit } from "../../server/kv/audit.ts";
import { startOtaServer } from "../ota/fleet.ts";

const json = (body: unknown, method = "POST"): RequestInit => ({
  method,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("unit create, edit and rework: one audit entry each, in the unit's own commit; a refused write leaves none", async () => {
  const srv = await startOtaServer();
  try {
    const created = await srv.api(
      "/api/units",
      json({ mac: "c8:47:8c:00:00:aa", model: "zmai-90", onBehalfOf: "Bob" }),
    );
    assertEquals(created.status, 201);
    const id = (await created.json()).id as string;
    const edit = await srv.api(`/api/units/${id}`, json({ site: "garage", reason: "moved" }, "PATCH"));
    assertEquals(edit.status, 200);
    await edit.body?.cancel();
    const rework = await srv.api(`/api/units/${id}/rework`, json({ component: "RN8209C", action: "desoldered" }));
    assertEquals(rework.status, 201);
    await rework.body?.cancel();
    // refused: a second unit with the same MAC (a conflict) writes neither the unit nor an audit entry
    const dup = await srv.api("/api/units", json({ mac: "c8:47:8c:00:00:aa" }));
    assertEquals(dup.status, 409);
    await dup.body?.cancel();

    const entries = (await listAudit(srv.kv, { target: `unit:${id}` })).reverse();
    assertEquals(entries.map((e) => e.action), ["unit.create", "unit.edit", "unit.rework"]);
    assertEquals(new Set(entries.map((e) => e.actor)).size, 1, "every entry names the signed-in user");
    assertEquals(entries[0].details?.onBehalfOf, "Bob");
    assertEquals(entries[1].details?.reason, "moved");
    assertEquals(entries[2].details?.component, "RN8209C");
  } finally {
    await srv.close();
  }
});
