/**
 * Under load the accountant lets each meter's samples gather for a while and
 * commits them together (one state write per meter per window instead of per
 * reading); a light load is committed at once. Both give the same energy.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { EnergyAccountant } from "../../server/energy/accountant.ts";
import { energySeries } from "../../server/energy/store.ts";
import type { EnergySample } from "../../server/energy/accounting.ts";
import { createLogger } from "../../shared/log.ts";
import { withTempDir } from "../helpers/tmp.ts";

const T0 = Date.UTC(2026, 10, 22, 8);
const quiet = createLogger({ level: "error" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `seconds` samples of `meters` meters at 1 Hz, 360 W (0.1 Wh a second) on a counter. */
function samples(meters: number, fromSecond: number, seconds: number): EnergySample[] {
  const out: EnergySample[] = [];
  for (let s = fromSecond; s < fromSecond + seconds; s++) {
    for (let m = 0; m < meters; m++) {
      out.push({ deviceId: `m${m}`, ts: T0 + s * 1000, powerW: 360, counterWh: 500 + s * 0.1, hasCounter: true });
    }
  }
  return out;
}

async function run(meters: number, coalesceMs: number, fn: (acc: EnergyAccountant, groups: number[]) => Promise<void>) {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/e.kv`);
    const groups: number[] = [];
    const acc = new EnergyAccountant(kv, { log: quiet, coalesceMs, onCommitted: (n) => void groups.push(n) });
    try {
      await fn(acc, groups);
      await acc.idle();
      // 100 s of 0.1 Wh a second after the first (baseline) sample: 9.9 Wh a meter, exactly
      const fleet = await energySeries(kv, "fleet", "all", "day", T0 - 86_400_000, T0 + 86_400_000);
      assertEquals(fleet.reduce((s, p) => s + p.wh, 0), meters * 9.9);
    } finally {
      await acc.stop();
      kv.close();
    }
  });
}

Deno.test("under load, samples wait for the coalescing window and are committed a meter at a time", async () => {
  await run(300, 1500, async (acc, groups) => {
    acc.submit(samples(300, 0, 10)); // 3000 queued samples: a load
    await sleep(200);
    assertEquals(groups.length, 0, "nothing committed before the window");
    for (let s = 10; s < 100; s += 10) acc.submit(samples(300, s, 10));
    await sleep(3000);
    assertGreater(groups.length, 0, "committed once the window passed");
    // each meter's first window holds its samples of several submissions
    assertGreater(Math.max(...groups) / 90, 10, "more than 10 samples per meter per commit");
  });
});

Deno.test("a light load is committed at once", async () => {
  await run(5, 60_000, async (acc, groups) => {
    for (let s = 0; s < 100; s += 10) {
      acc.submit(samples(5, s, 10));
      await sleep(30);
    }
    assertGreater(groups.length, 5, "not held for the 60 s window");
  });
});

Deno.test("idle() commits what waits for its window without waiting", async () => {
  await run(300, 60_000, async (acc, groups) => {
    acc.submit(samples(300, 0, 100));
    await sleep(100);
    assertEquals(groups.length, 0);
    const t0 = performance.now();
    await acc.idle();
    assertGreater(groups.length, 0);
    assertGreater(10_000, performance.now() - t0);
  });
});

Deno.test("a replayed backlog spanning hours for one meter is committed in parts, never one commit over KV's limit", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/e.kv`);
    const lines: string[] = [];
    const log = createLogger({ level: "error", sink: (l) => lines.push(l) });
    const acc = new EnergyAccountant(kv, { log, coalesceMs: 0 });
    try {
      // a spool replay after a long outage: a reading every 3 hours for 31 days (360 W), in one go; each 3-hour span
      // is spread over its 180 minutes, so one meter's backlog touches ~45,000 minute buckets
      const backlog: EnergySample[] = [];
      for (let k = 0; k <= 248; k++) {
        backlog.push({
          deviceId: "m0",
          ts: T0 + k * 3 * 3_600_000,
          powerW: 360,
          counterWh: 500 + k * 1080,
          hasCounter: true,
        });
      }
      acc.submit(backlog);
      await acc.idle();
      assertEquals(lines.filter((l) => l.includes('"level":"error"')), []);
      const month = await energySeries(kv, "unit", "m0", "day", T0 - 86_400_000, T0 + 40 * 86_400_000);
      assertEquals(month.reduce((s, p) => s + p.wh, 0), 248 * 1080);
    } finally {
      await acc.stop();
      kv.close();
    }
  });
});
