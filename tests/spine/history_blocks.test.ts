/**
 * Readings are stored in packed blocks (server/meters/store.ts) and compacted
 * from the ingest log into per-meter history blocks (server/history/store.ts).
 * These tests hold the storage to what the API promises: the same history
 * before and after compaction, nothing twice after a compaction that died
 * midway, blocks that any process can read, and KV's value limits respected.
 */
import { assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import { Decoder } from "../../shared/cbor.ts";
import type { Reading } from "../../shared/telemetry.ts";
import { compactLog, countHistory, listHistory, MAX_BLOCK_SPAN_MS, pruneHistory } from "../../server/history/store.ts";
import { holdLease, releaseLease } from "../../server/kv/leases.ts";
import {
  commitParts,
  getLatest,
  IngestCache,
  listLatest,
  MAX_BLOCK_BYTES,
  packBlocks,
  packReadings,
  SLOT_METERS,
  splitBatch,
} from "../../server/meters/store.ts";
import { withKv, withTempDir } from "../helpers/tmp.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";
import { ManualClock } from "../../shared/clock.ts";
import type { BusEvents } from "../../server/bus.ts";
import { INGEST_BACKLOG_YIELD_READINGS } from "../../server/history/extension.ts";
import { defaultExtensions } from "../../server/extensions.ts";
import type { Extension } from "../../server/context.ts";

const T0 = Date.UTC(2026, 10, 22, 8);

function reading(deviceId: string, ts: number, phases = false): Reading {
  const r: Reading = {
    deviceId,
    ts,
    voltage: 230 + (ts % 7) / 10,
    current: 1.5,
    power: 345.25,
    energyWh: 1000 + (ts - T0) / 3600,
    frequency: 50,
    powerFactor: 0.98,
  };
  if (phases) {
    r.phases = [0, 1, 2].map((i) => ({ voltage: 230 + i, current: 1 + i, power: 230 * (1 + i), powerFactor: 0.9 }));
  }
  return r;
}

/** `seconds` one-second batches of `meters` meters from agent `agentId`, committed as the server commits them. */
async function ingest(kv: Deno.Kv, agentId: string, meters: number, seconds: number, fromSecond = 0) {
  const index = new IngestCache();
  for (let s = fromSecond; s < fromSecond + seconds; s++) {
    const readings = Array.from({ length: meters }, (_, m) => reading(`${agentId}-m${m}`, T0 + s * 1000));
    const out = await commitParts(kv, splitBatch({ v: 1, agentId, seq: s, readings }), T0 + s * 1000, index);
    assertEquals(out.duplicate.length, 0);
  }
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

/**
 * A server over a log written before it starts (written while it runs, the 50 ms sweeps would nibble at it in
 * short rounds that never pause), so its first compaction round is a full one (100 entries). `rounds` records
 * every round from the first: the recorder starts before the compactor, not after the server is up.
 * `afterCompactor` starts right after the compactor, before its first round (no timer runs between starts).
 */
async function serverOverLog(
  dir: string,
  clock: ManualClock,
  agentId: string,
  seconds: number,
  afterCompactor?: Extension,
) {
  const kv = await Deno.openKv(`${dir}/meterfleet.kv`);
  await ingest(kv, agentId, 1, seconds);
  kv.close();
  const rounds: BusEvents["history.compacted"][] = [];
  const recorder: Extension = {
    name: "test-compaction-rounds",
    start(ctx) {
      ctx.bus.on("history.compacted", (e) => void rounds.push(e));
    },
  };
  const extensions = defaultExtensions();
  const at = extensions.findIndex((e) => e.name === "history-compactor");
  extensions.splice(at, 1, recorder, extensions[at], ...(afterCompactor ? [afterCompactor] : []));
  const srv = await startTestServer({ dir, clock, extensions, env: { HISTORY_COMPACT_MS: "50" } });
  return { srv, rounds };
}

Deno.test("a packed block is self-describing: a fresh decoder reads any block, in any order", () => {
  const a = packReadings([reading("m1", T0), reading("m2", T0)]);
  const b = packReadings([reading("m3", T0 + 1000, true)]);
  const c = packReadings([reading("m4", T0 + 2000)]);
  // a stored view of cbor-x's pool would be written whole: each block owns exactly its bytes
  for (const x of [a, b, c]) assertEquals(x.buffer.byteLength, x.byteLength);
  for (const [bytes, ids] of [[c, ["m4"]], [a, ["m1", "m2"]], [b, ["m3"]]] as const) {
    const decoded = new Decoder({ useRecords: true }).decode(bytes) as Reading[];
    assertEquals(decoded.map((r) => r.deviceId), [...ids]);
  }
  assertEquals((new Decoder({ useRecords: true }).decode(b) as Reading[])[0], reading("m3", T0 + 1000, true));
});

Deno.test("blocks stay under KV's 64 KiB value limit, in order, and the same readings always give the same blocks", () => {
  const many = Array.from({ length: 1000 }, (_, i) => reading(`spm-${i}`, T0 + i, true)); // 3-phase: the largest readings
  const blocks = packBlocks(many);
  assertGreater(blocks.length, 1);
  for (const b of blocks) assertLessOrEqual(b.packed.byteLength, MAX_BLOCK_BYTES);
  assertEquals(blocks.flatMap((b) => b.readings), many);
  const again = packBlocks(many);
  assertEquals(
    again.map((b) => b.packed),
    blocks.map((b) => b.packed),
    "a replayed batch must split into the same parts",
  );
});

Deno.test("history is the same before and after compaction; the log is gone and blocks are per meter", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 30, 40);
    await ingest(kv, "bench-b", 5, 40);
    const before = await listHistory(kv, "bench-a-m7", 0, Number.MAX_SAFE_INTEGER);
    assertEquals(before.length, 40, "readings are history from the moment they are committed");
    const window = await listHistory(kv, "bench-b-m2", T0 + 10_000, T0 + 20_000);
    assertEquals(window.map((p) => p.ts), Array.from({ length: 10 }, (_, i) => T0 + 10_000 + i * 1000));

    let cursor: string | undefined, moved = 0;
    do {
      const round = await compactLog(kv, 7, cursor); // small rounds: the sweep goes on from its cursor
      moved += round.readings;
      cursor = round.cursor;
      if (round.entries < 7) break;
    } while (true);
    assertEquals(moved, 35 * 40);
    assertEquals(await countKeys(kv, ["ingest_log"]), 0);
    assertEquals(await listHistory(kv, "bench-a-m7", 0, Number.MAX_SAFE_INTEGER), before);
    assertEquals(await listHistory(kv, "bench-b-m2", T0 + 10_000, T0 + 20_000), window);
    assertLessOrEqual(await countKeys(kv, ["meter_history", "bench-a-m7"]), 6, "a meter's points share blocks");

    // a range that starts inside a block still finds the block
    const mid = await listHistory(kv, "bench-a-m7", T0 + 25_500, T0 + 28_000);
    assertEquals(mid.map((p) => p.ts), [T0 + 26_000, T0 + 27_000]);
    // later readings go to the log again and are read together with the blocks
    await ingest(kv, "bench-a", 30, 5, 40);
    assertEquals(await countHistory(kv, "bench-a-m7"), 45);
  });
});

Deno.test("a compaction that died between writing blocks and deleting the log shows nothing twice", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 12, 30);
    const log: Deno.KvEntry<Uint8Array>[] = [];
    for await (const e of kv.list<Uint8Array>({ prefix: ["ingest_log"] })) log.push(e);
    await compactLog(kv);
    // the state a kill leaves: blocks written, log entries still there
    const op = kv.atomic();
    for (const e of log) op.set(e.key, e.value);
    await op.commit();
    assertEquals(await countHistory(kv, "bench-a-m3"), 30);
    await compactLog(kv); // the next compactor run writes the same points again, in new blocks
    assertEquals(await countKeys(kv, ["ingest_log"]), 0);
    const points = await listHistory(kv, "bench-a-m3", 0, Number.MAX_SAFE_INTEGER);
    assertEquals(points.map((p) => p.ts), Array.from({ length: 30 }, (_, i) => T0 + i * 1000));
  });
});

Deno.test("a damaged log entry is set aside, not allowed to stall compaction or break history reads", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 4, 10);
    // what a damaged KV value could hold: not CBOR, CBOR that is not readings, not bytes at all
    await kv.set(["ingest_log", "bench-a", 500, 0], new Uint8Array([0xff, 0x00, 0x13, 0x37]));
    await kv.set(["ingest_log", "bench-a", 501, 0], packReadings([{ nope: 1 } as unknown as Reading]));
    await kv.set(["ingest_log", "bench-a", 502, 0], "not bytes" as unknown as Uint8Array);
    assertEquals(await countHistory(kv, "bench-a-m2"), 10, "history reads skip the damaged entries");
    const round = await compactLog(kv);
    assertEquals([round.entries, round.readings, round.quarantined], [13, 40, 3]);
    assertEquals(await countKeys(kv, ["ingest_log"]), 0, "the log drains");
    assertEquals(await countKeys(kv, ["ingest_log_bad"]), 3, "the damaged bytes are kept for inspection");
    assertEquals(
      (await kv.get<Uint8Array>(["ingest_log_bad", "bench-a", 500, 0])).value,
      new Uint8Array([0xff, 0x00, 0x13, 0x37]),
    );
    assertEquals(await countHistory(kv, "bench-a-m2"), 10);
  });
});

Deno.test("latest readings come from the slots; a meter keeps its own newest reading whatever later batches hold", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 40, 3);
    assertEquals((await listLatest(kv)).length, 40);
    assertEquals((await getLatest(kv, "bench-a-m1"))?.reading.ts, T0 + 2000);
    // later batches carry only some of the meters (another rate, another batch of the same second)
    const index = new IngestCache();
    for (let s = 3; s < 6; s++) {
      const readings = [reading("bench-a-m39", T0 + s * 1000), reading("bench-a-m2", T0 + s * 1000)];
      await commitParts(kv, splitBatch({ v: 1, agentId: "bench-a", seq: 100 + s, readings }), T0 + s * 1000, index);
    }
    const all = await listLatest(kv);
    assertEquals(all.length, 40);
    assertEquals(all.find((m) => m.deviceId === "bench-a-m1")?.reading.ts, T0 + 2000);
    assertEquals(all.find((m) => m.deviceId === "bench-a-m39")?.reading.ts, T0 + 5000);
    assertEquals(all.find((m) => m.deviceId === "bench-a-m39")?.intervalMs, 1000, "its own interval");
    assertEquals(all.find((m) => m.deviceId === "bench-a-m1")?.committedAt, T0 + 2000, "its own last-seen");
    assertEquals((await getLatest(kv, "bench-a-m39"))?.reading.ts, T0 + 5000);
    assertEquals(await getLatest(kv, "no-such-meter"), null);
  });
});

Deno.test("a meter belongs to the agent that reported it first: another agent's readings for it are refused", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 3, 3);
    const cache = new IngestCache();
    const batch = { v: 1 as const, agentId: "bench-z", seq: 1, readings: [reading("bench-a-m1", T0 + 5000)] };
    const { batch: admitted, refused } = await cache.admit(kv, batch);
    assertEquals([...refused], ["bench-a-m1"]);
    assertEquals(admitted.readings, []);
    // even a caller that skips admission cannot move the meter's latest reading to another agent
    await commitParts(kv, splitBatch(batch), T0 + 5000, cache);
    const m1 = await getLatest(kv, "bench-a-m1");
    assertEquals([m1?.agentId, m1?.reading.ts], ["bench-a", T0 + 2000]);
  });
});

Deno.test("history points stored one key each (before blocks) are still read and pruned", async () => {
  await withKv(async (kv) => {
    const { deviceId: _, ...old } = reading("m-old", T0 - 10 * 86_400_000);
    await kv.set(["meter_history", "m-old", old.ts], old);
    await kv.set(["meters", "m-old"], { deviceId: "m-old" });
    assertEquals((await listHistory(kv, "m-old", 0, Number.MAX_SAFE_INTEGER)).map((p) => p.ts), [old.ts]);
    assertEquals(await pruneHistory(kv, T0 - 7 * 86_400_000), 1);
    assertEquals(await countHistory(kv, "m-old"), 0);
  });
});

Deno.test("a block straddling the retention boundary is kept whole; older blocks go", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 2, 20);
    await compactLog(kv);
    assertEquals(await pruneHistory(kv, T0 + 10_000), 0, "points on both sides: kept");
    assertEquals(await pruneHistory(kv, T0 + MAX_BLOCK_SPAN_MS + 60_000), 40);
    assertEquals(await countHistory(kv, "bench-a-m0"), 0);
  });
});

Deno.test("one compactor at a time: the lease is exclusive until released or expired", async () => {
  await withKv(async (kv) => {
    assertEquals(await holdLease(kv, "job", "a", 1000, T0), true);
    assertEquals(await holdLease(kv, "job", "b", 1000, T0 + 10), false);
    assertEquals(await holdLease(kv, "job", "a", 1000, T0 + 500), true, "the holder renews");
    assertEquals(await holdLease(kv, "job", "b", 1000, T0 + 1400), false);
    assertEquals(await holdLease(kv, "job", "b", 1000, T0 + 1600), true, "expired: another instance takes over");
    await releaseLease(kv, "job", "a"); // not a's any more: no effect
    assertEquals(await holdLease(kv, "job", "a", 1000, T0 + 1700), false);
    await releaseLease(kv, "job", "b");
    assertEquals(await holdLease(kv, "job", "a", 1000, T0 + 1700), true);
  });
});

Deno.test("compaction yields to ingest: while ingest reports a backlog the pause after a round is four times longer", async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock(T0 + 60_000);
    // ingest says readings are waiting behind its commits before the compactor's first round;
    // the server clock stands still, so that report stays fresh
    const backlogAtStart: Extension = {
      name: "test-ingest-backlog",
      start(ctx) {
        ctx.bus.emit("ingest.backlog", { readings: INGEST_BACKLOG_YIELD_READINGS + 1 });
      },
    };
    const { srv, rounds: events } = await serverOverLog(dir, clock, "agent-y", 250, backlogAtStart);
    try {
      await waitFor(() => events.length > 0, { what: "a compaction round" });
      assertEquals(events.length, 1, "the first round's pause is on a clock that stands still");
      const [first] = events;
      assertEquals(
        first.entries === 100 && first.yielded && first.pauseMs === 4 * Math.max(100, first.ms),
        true,
        JSON.stringify(first),
      );
      // the backlog report goes stale: rounds pause as long as they took (at least 100 ms) again
      while ((await countKeys(srv.kv, ["ingest_log"])) > 0) {
        clock.advance(3_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      const after = events.slice(1);
      assertGreater(after.length, 0);
      assertEquals(after.every((e) => !e.yielded && e.pauseMs === Math.max(100, e.ms)), true, JSON.stringify(after));
      assertEquals(events.reduce((s, e) => s + e.entries, 0), 250);
    } finally {
      await srv.close();
    }
  });
});

Deno.test("a server stopping while the compactor pauses between rounds stops at once (its clock may never move again)", async () => {
  await withTempDir(async (dir) => {
    const clock = new ManualClock(T0 + 3_600_000);
    const { srv, rounds } = await serverOverLog(dir, clock, "agent-z", 150);
    let closed = false;
    try {
      // a full round is followed by a pause on the server clock, which this test never advances
      await waitFor(() => rounds.some((e) => e.entries === 100), { what: "a full compaction round" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        srv.close().then(() => "closed"),
        new Promise<string>((r) => timer = setTimeout(() => r("close() still waiting after 10 s"), 10_000)),
      ]);
      clearTimeout(timer);
      closed = outcome === "closed";
      assertEquals(outcome, "closed");
    } finally {
      if (!closed) clock.advance(3_600_000); // let a hung close finish so the test run ends
    }
  });
});

Deno.test("an OpenBeken unit cannot take over a meter id an agent reported first, nor an agent a unit's", async () => {
  await withKv(async (kv) => {
    await ingest(kv, "bench-a", 2, 1);
    const cache = new IngestCache();
    assertEquals([...await cache.claim(kv, "openbeken", ["bench-a-m0", "obk8C1122"], (id) => id)], ["bench-a-m0"]);
    assertEquals((await kv.get(["meter_source", "obk8C1122"])).value, { source: "openbeken", slot: "obk8C1122" });
    assertEquals([...await new IngestCache().claim(kv, "bench-a", ["obk8C1122"])], ["obk8C1122"]);
  });
});

Deno.test("a batch spread over more latest slots than one commit holds: its slots are written in commits of their own", async () => {
  await withKv(async (kv) => {
    const meters = 64 * SLOT_METERS;
    const cache = new IngestCache();
    const first = Array.from({ length: meters }, (_, m) => reading(`wide-m${m}`, T0, true));
    for (let i = 0; i < meters; i += 400) {
      await commitParts(
        kv,
        splitBatch({ v: 1, agentId: "wide", seq: i, readings: first.slice(i, i + 400) }),
        T0,
        cache,
      );
    }
    // one reading from each slot: 64 slots of 3-phase readings are more than a commit's 800 KiB
    const spread = Array.from({ length: 64 }, (_, s) => reading(`wide-m${s * SLOT_METERS}`, T0 + 1000, true));
    const out = await commitParts(
      kv,
      splitBatch({ v: 1, agentId: "wide", seq: 1_000_000, readings: spread }),
      T0 + 1000,
    );
    assertEquals(out.committed.length, 1);
    const all = new Map((await listLatest(kv)).map((m) => [m.deviceId, m.reading.ts]));
    assertEquals(all.size, meters);
    assertEquals(spread.every((r) => all.get(r.deviceId) === T0 + 1000), true);
    assertEquals(all.get("wide-m1"), T0);
  });
});
