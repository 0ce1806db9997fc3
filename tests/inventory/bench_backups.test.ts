/** A unit flashed in two attempts keeps the first (stock) backup linked, not only the re-run's half-written one. */
import { assertEquals } from "@std/assert";
import { getUnit, upsertUnitFromBench } from "../../server/inventory/units.ts";
import { withTempDir } from "../helpers/tmp.ts";

Deno.test("bench registration links earlier backups of the same MAC, oldest first, once each", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/kv`);
    try {
      const stock = { backupId: "a".repeat(64), at: 1_000, benchHost: "bench-1" };
      const half = "b".repeat(64);
      const reg = { mac: "C8:47:8C:A0:00:02", chip: "BK7231N", benchHost: "bench-1", at: 5_000 };
      const u1 = await upsertUnitFromBench(kv, { ...reg, backupId: half, earlierBackups: [stock] });
      assertEquals(u1.backups.map((b) => b.backupId), [stock.backupId, half]);
      // registering again (a third run) duplicates nothing
      await upsertUnitFromBench(kv, { ...reg, at: 9_000, backupId: half, earlierBackups: [stock] });
      assertEquals((await getUnit(kv, u1.id))!.backups.map((b) => b.backupId), [stock.backupId, half]);
    } finally {
      kv.close();
    }
  });
});

Deno.test("bench registration: a known MAC on a chip with another flash id, or on a second port of one batch, is refused", async () => {
  const { assertRejects } = await import("@std/assert");
  const { UnitConflictError } = await import("../../server/inventory/units.ts");
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/kv`);
    try {
      const reg = { mac: "c8:47:8c:a0:00:09", chip: "BK7231N", benchHost: "bench-1", agentId: "bench-1" };
      const u = await upsertUnitFromBench(kv, { ...reg, flashId: "1560eb", batchId: "b1", port: "/dev/ttyUSB0" });
      await assertRejects(
        () => upsertUnitFromBench(kv, { ...reg, flashId: "15701c", batchId: "b2", port: "/dev/ttyUSB0" }),
        UnitConflictError,
        "flash id",
      );
      await assertRejects(
        () => upsertUnitFromBench(kv, { ...reg, flashId: "1560eb", batchId: "b1", port: "/dev/ttyUSB1" }),
        UnitConflictError,
        "same MAC",
      );
      assertEquals((await getUnit(kv, u.id))!.flashes.length, 1);
    } finally {
      kv.close();
    }
  });
});
