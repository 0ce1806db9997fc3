import { assertEquals, assertRejects } from "@std/assert";
import {
  appendRework,
  createUnit,
  findUnitByMac,
  findUnitByTopic,
  listRework,
  listUnits,
  reworksBy,
  UnitConflictError,
  UnitInputError,
  unitRevisions,
  unitsWithComponentState,
  updateUnit,
  upsertUnitFromBench,
} from "../../server/inventory/units.ts";
import { withKv } from "../helpers/tmp.ts";

const mac = (i: number) =>
  `c8:47:8c:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;

Deno.test("units: bench registration creates then appends; lookups by MAC and topic; indexes follow edits", async () => {
  await withKv(async (kv) => {
    const a = await upsertUnitFromBench(kv, {
      mac: "C8478C112233",
      chip: "BK7231N",
      flashId: "EB4015",
      backupId: "bk-1",
      firmware: "OpenBK7231N_QIO_1.18.299.bin",
      benchHost: "bench-a",
      at: 1000,
      model: "zmai-90",
      module: "CBU",
    });
    assertEquals(a.id, "u-c8478c112233");
    assertEquals(a.mac, "c8:47:8c:11:22:33");
    assertEquals(a.firmwareReported, "1.18.299");
    const b = await upsertUnitFromBench(kv, {
      mac: "c8:47:8c:11:22:33",
      chip: "BK7231N",
      backupId: "bk-2",
      benchHost: "bench-b",
      at: 2000,
    });
    assertEquals(b.id, a.id);
    assertEquals(b.flashes.length, 2);
    assertEquals(b.backups.map((x) => x.backupId), ["bk-1", "bk-2"]);
    assertEquals((await findUnitByMac(kv, "C8-47-8C-11-22-33"))?.id, a.id);

    await updateUnit(kv, a.id, { topic: "obk8C112233", site: "plant-1", tags: ["canary", "din"] }, { by: "ana" });
    assertEquals((await findUnitByTopic(kv, "obk8C112233"))?.id, a.id);
    assertEquals((await listUnits(kv, { site: "plant-1", tag: "canary" })).map((u) => u.id), [a.id]);
    await updateUnit(kv, a.id, { topic: "meter-kitchen", site: "plant-2", tags: ["din"] }, {
      by: "ana",
      reason: "moved",
    });
    assertEquals(await findUnitByTopic(kv, "obk8C112233"), null);
    assertEquals((await listUnits(kv, { site: "plant-1" })).length, 0);
    assertEquals((await listUnits(kv, { tag: "canary" })).length, 0);
    assertEquals((await listUnits(kv, { site: "plant-2", model: "zmai-90" })).map((u) => u.id), [a.id]);

    // history: every edit keeps the record as it was
    const revs = await unitRevisions(kv, a.id);
    assertEquals(revs.map((r) => r.rev), [1, 2, 3, 4]);
    assertEquals(revs[3].before?.topic, "obk8C112233");
    assertEquals(revs[3].reason, "moved");
    assertEquals(revs[3].by, "ana");
  });
});

Deno.test("units: MAC and topic are unique; bad input is refused and changes nothing", async () => {
  await withKv(async (kv) => {
    const a = await createUnit(kv, { mac: mac(1), topic: "t1" }, { by: "ana" });
    const b = await createUnit(kv, { mac: mac(2) }, { by: "ana" });
    await assertRejects(() => updateUnit(kv, b.id, { topic: "t1" }, { by: "ana" }), UnitConflictError);
    await assertRejects(() => createUnit(kv, { mac: mac(1) }, { by: "ana" }), UnitConflictError);
    await assertRejects(() => createUnit(kv, { mac: "zz" }, { by: "ana" }), UnitInputError);
    await assertRejects(() => updateUnit(kv, b.id, { topic: "a/b" }, { by: "ana" }), UnitInputError);
    await assertRejects(
      () => appendRework(kv, b.id, { component: "RN8209C", action: "melted" as never, who: "x" }),
      UnitInputError,
    );
    assertEquals((await findUnitByTopic(kv, "t1"))?.id, a.id);
    assertEquals((await listUnits(kv)).map((u) => u.topic), ["t1", null]);
    assertEquals(await listRework(kv, b.id), []);
  });
});

Deno.test("units: the audit query returns exactly the units whose RN8209C is off", async () => {
  await withKv(async (kv) => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await createUnit(kv, { mac: mac(i), model: "zmai-90" }, { by: "ana" })).id);
    const expectOff = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const id = ids[i];
      if (i % 3 === 0) { // desoldered, still off
        await appendRework(kv, id, {
          component: "RN8209C",
          action: "desoldered",
          reason: "frees UART1 for flashing",
          who: "ola",
          at: 100 + i,
        });
        expectOff.add(id);
      } else if (i % 3 === 1) { // desoldered then resoldered
        await appendRework(kv, id, { component: "rn8209c", action: "desoldered", who: "ola", at: 100 + i });
        await appendRework(kv, id, { component: "RN8209C", action: "resoldered", who: "piotr", at: 200 + i });
      } else { // other rework only
        await appendRework(kv, id, {
          component: "C12",
          action: "replaced",
          reason: "bulged",
          who: "piotr",
          at: 300 + i,
        });
      }
    }
    // one unit desoldered twice, resoldered, desoldered again: off
    await appendRework(kv, ids[1], { component: "RN8209C", action: "desoldered", who: "ola", at: 900 });
    expectOff.add(ids[1]);
    const off = await unitsWithComponentState(kv, "RN8209C", "off");
    assertEquals(new Set(off.map((o) => o.unitId)), expectOff);
    assertEquals((await unitsWithComponentState(kv, "RN8209C", "on")).length, 9);
    assertEquals((await reworksBy(kv, "piotr")).length, 20);
    assertEquals((await listRework(kv, ids[1])).map((r) => r.action), ["desoldered", "resoldered", "desoldered"]);
  });
});
