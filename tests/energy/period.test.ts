/** Energy periods in the fleet's zone: boundaries, navigation, DST days, bad dates, and the period CSV's errors. */
import { assertEquals } from "@std/assert";
import { parseLocalDate, periodOf } from "../../server/energy/period.ts";
import { zoneByName } from "../../shared/zone.ts";
import { startTestServer } from "../helpers/server.ts";

const berlin = zoneByName("Europe/Berlin");
const now = Date.parse("2026-12-02T10:00:00Z"); // a Wednesday

Deno.test("period: a week starts on Monday, local midnight; next is null while it is the current one", () => {
  const w = periodOf(berlin, "week", "2026-12-02", now);
  assertEquals(w.date, "2026-11-30");
  assertEquals(new Date(w.from).toISOString(), "2026-11-29T23:00:00.000Z");
  assertEquals(w.to - w.from, 7 * 86_400_000);
  assertEquals(w.prevDate, "2026-11-23");
  assertEquals(w.nextDate, null);
  assertEquals(w.current, true);
  assertEquals(w.level, "day");
  assertEquals(periodOf(berlin, "week", "2026-11-23", now).nextDate, "2026-11-30");
});

Deno.test("period: months and years, with their neighbours", () => {
  const m = periodOf(berlin, "month", "2026-02-14", now);
  assertEquals([m.date, m.prevDate, m.nextDate, m.label], ["2026-02-01", "2026-01-01", "2026-03-01", "Feb 2026"]);
  assertEquals((m.to - m.from) / 86_400_000, 28);
  const y = periodOf(berlin, "year", "2025-07-01", now);
  assertEquals([y.date, y.prevDate, y.nextDate, y.label, y.level], [
    "2025-01-01",
    "2024-01-01",
    "2026-01-01",
    "2025",
    "month",
  ]);
});

Deno.test("period: the spring-forward day in Berlin has 23 hours, the autumn one 25", () => {
  const spring = periodOf(berlin, "day", "2026-03-29", now);
  assertEquals((spring.to - spring.from) / 3_600_000, 23);
  const autumn = periodOf(berlin, "day", "2026-10-25", now);
  assertEquals((autumn.to - autumn.from) / 3_600_000, 25);
  assertEquals(autumn.label, "Sun 25 Oct 2026");
});

Deno.test("period: a missing or impossible date means today", () => {
  assertEquals(parseLocalDate("2026-02-30"), null);
  assertEquals(parseLocalDate("2026-2-3"), null);
  assertEquals(parseLocalDate("yesterday"), null);
  assertEquals(periodOf(berlin, "day", "2026-02-30", now).date, "2026-12-02");
  assertEquals(periodOf(berlin, "day", null, now).date, "2026-12-02");
});

Deno.test("period CSV: a bad period, date or scope is a 400 with the reason; a good one has the table's header", async () => {
  const srv = await startTestServer();
  try {
    const get = (q: string) => srv.api(`/api/energy/export.csv?${q}`);
    let r = await get("scope=fleet&period=fortnight");
    assertEquals(r.status, 400);
    assertEquals((await r.json()).error, "period: day, week, month or year");
    r = await get("scope=fleet&period=day&date=2026-13-01");
    assertEquals(r.status, 400);
    assertEquals((await r.json()).error, "date: a local date YYYY-MM-DD");
    r = await get("scope=site&period=day");
    assertEquals(r.status, 400);
    await r.body?.cancel();
    r = await get("scope=fleet&period=month");
    assertEquals(r.status, 200);
    assertEquals((await r.text()).split("\n")[0], "bucket_start_utc,bucket_start_ms,bucket_start_local,total_kwh");
    // a new installation's energy page says what to do instead of drawing an empty chart
    const page = await (await srv.api("/energy?period=week&date=not-a-date")).text();
    for (const want of ["No energy recorded in this period", "No meter has reported energy yet", "Week of"]) {
      assertEquals(page.includes(want), true, want);
    }
  } finally {
    await srv.close();
  }
});
