/**
 * The live view's page is cut on the server: filters, sort (problems, then the
 * biggest consumers, first), site groups with site totals, offsets; deltas
 * rebuild exactly the next page; a meter's status follows its own interval.
 */
import { assertEquals } from "@std/assert";
import { firstInOrder, type FleetMeter, type FleetState, pageOf, selectMeters } from "../../server/meters/live.ts";
import {
  applyLiveDelta,
  DEFAULT_LIVE_QUERY,
  liveDelta,
  type LiveQuery,
  type MeterStatus,
  meterStatus,
  parseLiveQuery,
} from "../../shared/fleet.ts";
import { startTestServer } from "../helpers/server.ts";

const NOW = Date.UTC(2026, 11, 1, 12);

function meter(id: string, site: string | null, power: number, status: MeterStatus, agentId = "bench-a"): FleetMeter {
  return {
    deviceId: id,
    agentId,
    site,
    model: id.startsWith("b-") ? "zmai-90" : null,
    status,
    committedAt: NOW - (status === "ok" ? 500 : status === "stale" ? 10_000 : 600_000),
    intervalMs: 1000,
    reading: { deviceId: id, ts: NOW - 1000, voltage: 230, current: power / 230, power, energyWh: power * 10 },
  };
}

const state = (): FleetState => ({
  at: NOW,
  refusedReadings: 0,
  refused: { meters: 0, items: [] },
  meters: [
    meter("a-small", "attic", 10, "ok"),
    meter("a-big", "attic", 900, "ok"),
    meter("a-stale", "attic", 50, "stale"),
    meter("b-one", "barn", 300, "ok", "bench-b"),
    meter("b-off", "barn", 700, "offline", "bench-b"),
    meter("loose", null, 5000, "ok"),
  ],
});
const q = (patch: Partial<LiveQuery>): LiveQuery => ({ ...DEFAULT_LIVE_QUERY, ...patch });
const ids = (p: ReturnType<typeof pageOf>) => p.rows.map((r) => r[0]);

Deno.test("the page: grouped by site (named sites first), problems then the biggest consumers first, with totals", () => {
  const page = pageOf(state(), q({}));
  assertEquals(ids(page), ["a-stale", "a-big", "a-small", "b-off", "b-one", "loose"]);
  assertEquals(page.counts, { ok: 4, stale: 1, offline: 1 });
  assertEquals(page.fleetPowerW, 10 + 900 + 50 + 300 + 5000, "an offline meter's old reading is not counted");
  assertEquals(page.sites.map((s) => [s.site, s.meters, s.powerW, s.problems]), [
    ["attic", 3, 960, 1],
    ["barn", 2, 300, 1],
    [null, 1, 5000, 0],
  ]);
  assertEquals([page.total, page.matched], [6, 6]);
});

Deno.test("the page: filters by id, site, agent and status; other sorts; offset and limit", () => {
  assertEquals(ids(pageOf(state(), q({ q: "B-" }))), ["b-off", "b-one"]);
  assertEquals(ids(pageOf(state(), q({ site: "attic", sort: "power", dir: "asc" }))), ["a-small", "a-stale", "a-big"]);
  assertEquals(ids(pageOf(state(), q({ agent: "bench-b", sort: "id", dir: "asc" }))), ["b-off", "b-one"]);
  assertEquals(ids(pageOf(state(), q({ status: "offline" }))), ["b-off"]);
  assertEquals(ids(pageOf(state(), q({ model: "zmai-90", sort: "id", dir: "asc" }))), ["b-off", "b-one"]);
  assertEquals(pageOf(state(), q({})).models, ["zmai-90"]);
  const paged = pageOf(state(), q({ sort: "id", dir: "asc", offset: 2, limit: 2 }));
  assertEquals([ids(paged), paged.matched, paged.total], [["a-stale", "b-off"], 6, 6]);
});

Deno.test("deltas carry only changed rows (and the order when it changed) and rebuild the next page exactly", () => {
  const s1 = state();
  const p1 = pageOf(s1, q({}));
  const s2 = state();
  s2.at = NOW + 1000;
  s2.meters[0].reading = { ...s2.meters[0].reading, power: 2000, ts: NOW }; // a-small now the attic's biggest
  s2.meters.push(meter("a-new", "attic", 1, "ok"));
  const p2 = pageOf(s2, q({}));
  const d = liveDelta(p1, p2);
  assertEquals(d.rows.map((r) => r[0]).sort(), ["a-new", "a-small"]);
  assertEquals(d.order, ids(p2));
  assertEquals(applyLiveDelta(p1, d), p2);
  const same = liveDelta(p2, p2);
  assertEquals([same.rows, same.order], [[], undefined]);
});

Deno.test("a meter's status follows its own interval: stale after 3 of them, offline after 12 (with floors)", () => {
  const m = (age: number, intervalMs?: number) => meterStatus({ committedAt: NOW - age, intervalMs }, NOW);
  assertEquals([m(1500, 1000), m(3500, 1000), m(59_000, 1000), m(61_000, 1000)], ["ok", "stale", "stale", "offline"]);
  assertEquals([m(14_000, 5000), m(16_000, 5000), m(61_000, 5000)], ["ok", "stale", "offline"]);
  assertEquals([m(14_000), m(16_000)], ["ok", "stale"], "until it reported twice: a 5 s interval");
});

Deno.test("live queries: a bad value gets a clear error, on the API too", async () => {
  const bad = (s: string) => (parseLiveQuery(new URLSearchParams(s)) as { error?: string }).error;
  assertEquals(bad("sort=loudest"), "sort: one of problems, power, energy, id, seen");
  assertEquals(bad("limit=0"), "limit: a whole number from 1 to 500");
  assertEquals(bad("limit=501"), "limit: a whole number from 1 to 500");
  assertEquals(bad("status=gone"), "status: one of ok, stale, offline");
  assertEquals(bad("offset=-1"), "offset: a whole number");
  const srv = await startTestServer();
  try {
    for (const path of ["/api/meters?sort=loudest", "/api/live?limit=0"]) {
      const res = await srv.api(path);
      assertEquals(res.status, 400, path);
      assertEquals(typeof (await res.json()).error, "string");
    }
    const page = await srv.api("/?dir=sideways");
    assertEquals(page.status, 400);
    await page.body?.cancel();
  } finally {
    await srv.close();
  }
});

Deno.test("the first k in order without a full sort: the same as sorting, ties kept in input order", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const byValue = (a: { v: number }, b: { v: number }) => a.v - b.v;
  for (const n of [0, 1, 5, 100, 1000, 5000]) {
    // few distinct values, so ties are common
    const items = Array.from({ length: n }, (_, i) => ({ v: Math.floor(rand() * 50), i }));
    for (const k of [1, 3, 50, 200, n]) {
      const want = items.slice().sort(byValue).slice(0, k).map((x) => x.i);
      assertEquals(firstInOrder(items, k, byValue).map((x) => x.i), want, `n=${n} k=${k}`);
    }
  }
});

Deno.test("a page cut without a full sort equals the page of the fully sorted fleet, for every sort and direction", () => {
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const sites = ["attic", "barn", "Åre", null];
  const statuses: MeterStatus[] = ["ok", "ok", "ok", "stale", "offline"];
  const big: FleetState = {
    ...state(),
    meters: Array.from(
      { length: 3000 },
      (_, i) => meter(`m-${i}`, sites[i % 4], Math.round(rand() * 40) * 25, statuses[Math.floor(rand() * 5)]),
    ),
  };
  for (const sort of ["problems", "power", "energy", "id", "seen"] as const) {
    for (const dir of ["asc", "desc"] as const) {
      for (const offset of [0, 50, 2950]) {
        const query = q({ sort, dir, offset });
        const full = selectMeters(big, query).slice(offset, offset + query.limit).map((m) => m.deviceId);
        assertEquals(ids(pageOf(big, query)), full, `${sort} ${dir} @${offset}`);
      }
    }
  }
});
