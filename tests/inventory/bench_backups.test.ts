/** A unit flashed in two attempts keeps the first (stock) backup linked, not only the re-run's half-written one. */
import { assertEquals } from "@std/assert";
import { getUnit, upsertUnitFromBench } from "../../server/db/units.ts";
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
