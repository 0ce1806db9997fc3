import { assertEquals } from "@std/assert";
import { energySeries, hourlyDense, rollupKey } from "../../server/energy/store.ts";
import { bucketStart, nextBucket } from "../../server/energy/buckets.ts";
import { zoneByName } from "../../shared/zone.ts";
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
      for await (
        const e of kv.list<Deno.KvU64>({
          start: rollupKey("unit", "u1", "hour", T0 + 5 * DAY),
          end: rollupKey("unit", "u1", "hour", T0 + 95 * DAY),
        })
      ) {
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

Deno.test("month packs in local-time zones: half-hour offsets (Kolkata, St John's) and DST months (Berlin) read back every hour", async () => {
  for (const name of ["Asia/Kolkata", "Europe/Berlin", "America/St_Johns"]) {
    const zone = zoneByName(name);
    await withTempDir(async (dir) => {
      const kv = await Deno.openKv(`${dir}/e.kv`);
      try {
        // every hour for 100 days, so each month's last hour is there too
        for (let d = 0; d < 100; d++) {
          const op = kv.atomic();
          for (let h = d * 24; h < (d + 1) * 24; h++) {
            const ts = T0 + h * HOUR;
            op.sum(rollupKey("unit", "u1", "hour", ts), BigInt(1000 + h));
            op.sum(rollupKey("unit", "u1", "month", bucketStart("month", ts, zone)), BigInt(1000 + h));
          }
          await op.commit();
        }
        const now = T0 + 120 * DAY, from = T0, to = T0 + 100 * DAY;
        const plain = await energySeries(kv, "unit", "u1", "hour", from, to, { zone, now: from + DAY }); // nothing closed yet: a scan
        assertEquals(plain.length, 100 * 24);
        const opts = { zone, now };
        assertEquals(await energySeries(kv, "unit", "u1", "hour", from, to, opts), plain, `${name}: packing read`);
        let packs = 0;
        for await (const _ of kv.list({ prefix: ["energy_pack"] })) packs++;
        // one pack per local month wholly inside the range (St John's January starts at 03:30 UTC, after `from`)
        let whole = 0;
        for (let m = bucketStart("month", from, zone); m < to; m = nextBucket("month", m, zone)) {
          if (m >= from && nextBucket("month", m, zone) <= to) whole++;
        }
        assertEquals([packs, whole >= 2], [whole, true], name);
        assertEquals(await energySeries(kv, "unit", "u1", "hour", from, to, opts), plain, `${name}: from packs`);
        const dense = await hourlyDense(kv, "unit", "u1", from, to, opts);
        assertEquals(
          [...dense].reduce((s, x) => s + x, 0),
          plain.reduce((s, p) => s + Math.round(p.wh * 1000), 0),
          name,
        );
      } finally {
        kv.close();
      }
    });
  }
});
