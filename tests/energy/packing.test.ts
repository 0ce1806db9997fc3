import { assertEquals } from "@std/assert";
import { energySeries, rollupKey } from "../../server/db/energy.ts";
import { withTempDir } from "../helpers/tmp.ts";

const T0 = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000, DAY = 86_400_000;

/** Rollups as ingest writes them: KV sums on hour and month keys. */
async function add(kv: Deno.Kv, ts: number, mwh: number) {
  const mo = Date.UTC(new Date(ts).getUTCFullYear(), new Date(ts).getUTCMonth(), 1);
  await kv.atomic()
    .sum(rollupKey("unit", "u1", "hour", Math.floor(ts / HOUR) * HOUR), BigInt(mwh))
    .sum(rollupKey("unit", "u1", "month", mo), BigInt(mwh))
    .commit();
}

Deno.test("hourly series over closed months read from month packs equal the plain scan, and late samples invalidate them", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/e.kv`);
    try {
      for (let h = 0; h < 100 * 24; h += 7) await add(kv, T0 + h * HOUR, 1000 + h);
      const now = T0 + 120 * DAY;
      const plain: { ts: number; wh: number }[] = [];
      for await (const e of kv.list<Deno.KvU64>({ start: rollupKey("unit", "u1", "hour", T0 + 5 * DAY), end: rollupKey("unit", "u1", "hour", T0 + 95 * DAY) })) {
        plain.push({ ts: e.key[4] as number, wh: Number(e.value.value) / 1000 });
      }
      const first = await energySeries(kv, "unit", "u1", "hour", T0 + 5 * DAY, T0 + 95 * DAY, { now });
      assertEquals(first, plain);
      let packs = 0;
      for await (const _ of kv.list({ prefix: ["energy_pack"] })) packs++;
      assertEquals(packs, 2); // February and March are whole inside the range
      assertEquals(await energySeries(kv, "unit", "u1", "hour", T0 + 5 * DAY, T0 + 95 * DAY, { now }), plain);
      // a late sample for a packed month
      const late = Date.UTC(2025, 1, 10, 3);
      await add(kv, late, 5000);
      const after = await energySeries(kv, "unit", "u1", "hour", T0 + 5 * DAY, T0 + 95 * DAY, { now });
      const hit = after.find((p) => p.ts === late)!;
      assertEquals(hit.wh, (plain.find((p) => p.ts === late)?.wh ?? 0) + 5);
      assertEquals(after.length, plain.length + (plain.some((p) => p.ts === late) ? 0 : 1));
    } finally {
      kv.close();
    }
  });
});
