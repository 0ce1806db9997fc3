/**
 * A household in Berlin (FLEET_TZ=Europe/Berlin) over the October clock change:
 * a constant 300 W load, reported by an OpenBeken plug every 10 minutes through
 * the broker, gives 7.2 kWh on Saturday and 7.5 kWh on the 25-hour Sunday, in
 * the API, the CSV (with local times) and the fleet's "today".
 */
import { assertEquals } from "@std/assert";
import { ManualClock } from "../../shared/clock.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";
import { Replayer } from "./replay.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { getEnergyZone } from "../../server/energy/store.ts";

const MIN = 60_000;
const SAT = Date.UTC(2026, 9, 23, 22); // Saturday 24 October 2026, 00:00 in Berlin (CEST, UTC+2)
const MON = Date.UTC(2026, 9, 25, 23); // Monday 26 October, 00:00 in Berlin (CET, UTC+1): 49 hours later

Deno.test("DST: a 300 W load gives 7.2 kWh on Saturday and 7.5 kWh on the 25-hour Sunday of the clock change", async () => {
  const clock = new ManualClock(SAT - MIN);
  const srv = await startTestServer({ clock, env: { FLEET_TZ: "Europe/Berlin" } });
  const plug = await ObkUnit.connect(srv, "obkDST01");
  const r = new Replayer(srv, clock);
  try {
    let counter = 1000; // Wh; 300 W = 50 Wh per 10 minutes
    for (let ts = SAT; ts <= MON + 10 * MIN; ts += 10 * MIN) {
      if (ts > SAT) counter += 50;
      r.at(ts);
      await r.sample(plug, "energycounter", counter.toFixed(3));
      await r.sample(plug, "power", "300.00");
    }
    const series =
      await (await srv.api(`/api/energy/series?scope=unit&id=obkDST01&level=day&from=${SAT}&to=${MON + 3600_000}`))
        .json();
    assertEquals(series.points.map((p: { ts: number; wh: number }) => [p.ts, Math.round(p.wh)]), [
      [SAT, 7200],
      [Date.UTC(2026, 9, 24, 22), 7500],
      [MON, 50],
    ]);
    const csv = await (await srv.api(`/api/energy/export.csv?scope=unit&id=obkDST01&level=day&from=${SAT}&to=${MON}`))
      .text();
    assertEquals(csv.trim().split("\n").map((l) => l.split(",").slice(2).join(",")), [
      "kwh,bucket_start_local",
      "7.200000,2026-10-24T00:00+02:00",
      "7.500000,2026-10-25T00:00+02:00",
    ]);
    // the 25 hours of Sunday as hour buckets: 25 of them, 300 Wh each
    const hours = await (await srv.api(
      `/api/energy/series?scope=unit&id=obkDST01&level=hour&from=${Date.UTC(2026, 9, 24, 22)}&to=${MON}`,
    )).json();
    assertEquals([hours.points.length, Math.round(hours.totalWh)], [25, 7500]);
    // Monday 00:10 local by the server clock: today is Monday's 50 Wh, the month holds all of it
    const fleet = await (await srv.api("/api/energy/fleet")).json();
    const row = fleet.units.find((u: { deviceId: string }) => u.deviceId === "obkDST01");
    assertEquals([fleet.dayStart, row.todayWh, row.monthWh], [MON, 50, 7200 + 7500 + 50]);
    // and the page says which zone its days are in
    assertEquals(
      (await (await srv.api("/energy/unit/obkDST01")).text()).includes("days and months in Europe/Berlin"),
      true,
    );
  } finally {
    r.close();
    await plug.close();
    await srv.close();
  }
});

Deno.test("changing FLEET_TZ later is remembered and shown: totals stored before keep the old zone's days", async () => {
  await withTempDir(async (dir) => {
    const first = await startTestServer({ dir, env: { FLEET_TZ: "UTC" } });
    try {
      assertEquals((await (await first.api("/energy")).text()).includes('data-testid="zone-changed"'), false);
    } finally {
      await first.close();
    }
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 12));
    const second = await startTestServer({ dir, clock, env: { FLEET_TZ: "Europe/Berlin" } });
    try {
      const page = await (await second.api("/energy")).text();
      const note = /data-testid="zone-changed">(.*?)<\/p>/s.exec(page)?.[1].replaceAll("<!-- -->", "") ?? "";
      assertEquals(note.includes("Europe/Berlin since 2026-11-22 13:00"), true, note);
      assertEquals(note.includes("boundaries of UTC"), true, note);
      const rec = await getEnergyZone(second.kv);
      assertEquals([rec?.name, rec?.since, rec?.earlier.map((e) => e.name)], [
        "Europe/Berlin",
        Date.UTC(2026, 10, 22, 12),
        ["UTC"],
      ]);
    } finally {
      await second.close();
    }
  });
});
