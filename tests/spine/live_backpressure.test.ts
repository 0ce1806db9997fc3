/**
 * A browser that stops reading /api/live costs the server a bounded amount:
 * its stream holds at most the high-water mark plus one message, it skips
 * deltas instead of queueing them, and it is disconnected after a while. A
 * reader that keeps up gets a snapshot, then deltas that rebuild the same page.
 */
import { assert, assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import { commitParts, IngestCache, splitBatch } from "../../server/meters/store.ts";
import { LiveFeed, MeterFacts, pageOf, readFleet } from "../../server/meters/live.ts";
import { SESSION_COOKIE } from "../../server/auth/middleware.ts";
import { applyLiveDelta, DEFAULT_LIVE_QUERY, type LivePage } from "../../shared/fleet.ts";
import type { Reading } from "../../shared/telemetry.ts";
import { testSession } from "../helpers/auth.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";
import { withKv } from "../helpers/tmp.ts";

const METERS = 2000;
const query = { ...DEFAULT_LIVE_QUERY, limit: 500 };

/** Every meter reports once more (new values, so every row of a page changes). */
async function reportAll(kv: Deno.Kv, cache: IngestCache, seq: number, now: number) {
  const readings: Reading[] = Array.from({ length: METERS }, (_, i) => ({
    deviceId: `m-${i}`,
    ts: now,
    voltage: 230 + (seq % 10) / 10,
    current: 1 + i / 1000,
    power: 100 + ((seq * 7 + i) % 500),
    energyWh: 1000 + seq,
  }));
  const parts = [];
  for (let i = 0; i < readings.length; i += 400) {
    parts.push(
      ...splitBatch({ v: 1, agentId: "bench-load", seq: seq * 10 + i / 400, readings: readings.slice(i, i + 400) }),
    );
  }
  await commitParts(kv, parts, now, cache);
}

Deno.test("live feed: a watcher that never reads holds at most one message over the high-water mark, skips deltas, and is dropped", async () => {
  await withKv(async (kv) => {
    const cache = new IngestCache();
    const t0 = Date.now();
    await reportAll(kv, cache, 0, t0);
    const feed = new LiveFeed(kv, { intervalMs: 3_600_000, highWaterBytes: 64 * 1024, maxBehindMs: 30_000 });
    const sites = new MeterFacts(kv);
    const first = pageOf(await readFleet(kv, sites, t0), query);
    const stalled = feed.stream(query, first); // never read
    const reader = (feed.stream(query, first) as ReadableStream<BufferSource>).pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      const snapshotBytes = new TextEncoder().encode(JSON.stringify(first)).byteLength;
      assertGreater(snapshotBytes, 20_000, "a page big enough to fill the stream in a few ticks");
      let maxQueued = 0;
      let received = "";
      for (let tick = 1; tick <= 40; tick++) {
        await reportAll(kv, cache, tick, t0 + tick * 500);
        await feed.tick(t0 + tick * 500);
        const s = feed.stats();
        maxQueued = Math.max(maxQueued, s.maxQueuedBytes);
        // the reader keeps up
        while (!received.endsWith("\n\n") || received.split("event: ").length - 1 < tick + 1) {
          const r = await reader.read();
          if (r.done) break;
          received += r.value;
        }
      }
      // bounded: the high-water mark plus one message, whatever the number of ticks
      assertLessOrEqual(maxQueued, 64 * 1024 + 2 * snapshotBytes);
      assertGreater(feed.stats().skipped, 30, "the stalled watcher skipped deltas rather than queueing them");
      // the reader rebuilt the page from a snapshot and deltas, equal to the server's page
      const events = received.split("\n\n").filter((e) => e.startsWith("event: "));
      let page: LivePage | null = null;
      for (const e of events) {
        const [head, data] = e.split("\n");
        const body = JSON.parse(data.slice("data: ".length));
        page = head === "event: snapshot" ? body : applyLiveDelta(page!, body);
      }
      const expected = pageOf(await readFleet(kv, sites, t0 + 40 * 500), query);
      assertEquals(page!.rows, expected.rows);
      assertEquals(page!.fleetPowerW, expected.fleetPowerW);
      // behind for longer than maxBehindMs: disconnected
      await feed.tick(t0 + 40 * 500 + 31_000);
      assertEquals(feed.stats().dropped, 1);
      assertEquals(feed.stats().watchers, 1);
    } finally {
      await reader.cancel();
      await stalled.cancel().catch(() => {});
      feed.stop();
    }
  });
});

Deno.test({
  name: "live over HTTP: a client that never reads /api/live keeps server-side queueing bounded and is disconnected",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = await startTestServer({ env: { LIVE_INTERVAL_MS: "50", LIVE_MAX_BEHIND_MS: "3000" } });
    const cache = new IngestCache();
    let seq = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await reportAll(srv.kv, cache, ++seq, Date.now());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const session = await testSession(srv.kv, "admin");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(srv.url).port) });
    try {
      await conn.write(new TextEncoder().encode(
        `GET /api/live?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n` +
          `Cookie: ${SESSION_COOKIE}=${session.token}\r\n\r\n`,
      ));
      // never read from conn: the kernel's buffers fill, then the server's stream does
      let maxQueued = 0;
      const health = async () => {
        const live = (await (await srv.api("/api/health")).json()).live;
        maxQueued = Math.max(maxQueued, live.maxQueuedBytes);
        return live;
      };
      await waitFor(async () => (await health()).skipped > 0, { timeoutMs: 60_000, what: "the stream filled up" });
      await waitFor(async () => (await health()).dropped >= 1, { timeoutMs: 20_000, what: "the slow client dropped" });
      assertEquals((await health()).watchers, 0);
      assertLessOrEqual(maxQueued, 64 * 1024 + 200_000, "queued bytes bounded by the high-water mark + one message");
      // a client that reads gets a snapshot first
      const res = await srv.api("/api/live?limit=5");
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("event: snapshot")) text += (await reader.read()).value ?? "";
      assert(text.includes('"rows":['));
      await reader.cancel();
    } finally {
      writing = false;
      await writer;
      conn.close();
      await srv.close();
    }
  },
});
