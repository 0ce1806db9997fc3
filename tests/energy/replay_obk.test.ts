/**
 * Simulated OpenBeken traffic over three days on the real broker, with the
 * server's clock driven by the script: reboots (0 then the old value), a
 * replayed old counter, a corrupted spike, duplicates, a Wi-Fi gap, a power cut that loses flash
 * vars, and a counter reset. Expected kWh per day are worked out by hand from
 * the load (300 W all the time, except a 2-minute power cut on day 3).
 */
import { assertEquals } from "@std/assert";
import { ManualClock } from "../../shared/clock.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";
import { dailyWh, Replayer } from "./replay.ts";

const D1 = Date.UTC(2026, 9, 5);
const MIN = 60_000;
const DAY = 86_400_000;
const at = (day: number, hh: number, mm: number, ss = 0) => D1 + (day - 1) * DAY + ((hh * 60 + mm) * 60 + ss) * 1000;
const wh = (v: number) => v.toFixed(3); // OBK prints the counter with 3 decimals

Deno.test("OpenBeken replay: exact kWh per day across reboots, replays, duplicates, a gap, lost flash vars and a reset", async () => {
  const clock = new ManualClock(at(1, 0, 0) - MIN);
  const srv = await startTestServer({ clock });
  const plug = await ObkUnit.connect(srv, "obkPLUG01");
  const kwhUnit = await ObkUnit.connect(srv, "obkKWH01");
  const r = new Replayer(srv, clock);
  try {
    assertEquals(
      (await srv.api("/api/energy/sites/obkPLUG01", {
        method: "PUT",
        body: JSON.stringify({ site: "plant-1" }),
        headers: { "content-type": "application/json" },
      })).status,
      200,
    );
    await (await srv.api("/api/energy/sites/obkKWH01", {
      method: "PUT",
      body: JSON.stringify({ site: "plant-1" }),
      headers: { "content-type": "application/json" },
    })).body?.cancel();

    // a second unit at the same site reports kWh (flag 40), announced by its HA discovery config
    await r.state(
      () =>
        kwhUnit.raw(
          "homeassistant/sensor/OpenBK7231N_0A0B0C0D_sensor_3/config",
          `{"dev":{"ids":["OpenBK7231N_0A0B0C0D"],"name":"obkKWH01","sw":"1.18.299","mdl":"BK7231N"},"name":"Energy Total","~":"obkKWH01","avty_t":"~/connected","uniq_id":"OpenBK7231N_0A0B0C0D_sensor_3","qos":1,"dev_cla":"energy","stat_t":"~/energycounter/get","stat_cla":"total_increasing","unit_of_meas":"kWh"}`,
          { retain: true },
        ),
      async () => (await getUnitPresence(srv.kv, "obkKWH01"))?.energyUnit === "kWh",
    );

    let counter = 10_000; // Wh, the plug's own counter; 300 W = 50 Wh per 10 minutes
    const tick = async (ts: number, value = counter) => {
      r.at(ts);
      await r.sample(plug, "energycounter", wh(value));
      await r.sample(plug, "power", "300.00");
    };
    for (let day = 1; day <= 3; day++) {
      for (let m = 0; m < 24 * 60; m += 10) {
        const ts = at(day, 0, m);
        if (ts > at(1, 0, 0)) counter += 50;
        if (day === 2 && m > 15 * 60 && m < 18 * 60) continue; // Wi-Fi gap: the unit keeps counting, publishes nothing
        await tick(ts);
        if (day === 3 && m === 9 * 60) {
          // the boot trickle's uptime arrives a few seconds after the first counter value
          r.at(at(3, 9, 0, 5));
          await r.state(
            () => plug.item("uptime", "5"),
            async () => (await getUnitPresence(srv.kv, "obkPLUG01"))?.reboots === 2,
          );
        }
        if (day === 1 && m === 0) {
          await r.state(
            () => plug.item("uptime", "86000"),
            async () => (await getUnitPresence(srv.kv, "obkPLUG01"))?.uptimeS === 86000,
          );
        }
        if (day === 2 && m === 6 * 60) {
          // reboot: uptime falls, the counter reads 0 until the flash vars load (HA would count the old value again)
          r.at(at(2, 6, 0, 30));
          await r.state(
            () => plug.item("uptime", "3"),
            async () => (await getUnitPresence(srv.kv, "obkPLUG01"))?.reboots === 1,
          );
          await r.sample(plug, "energycounter", "0.000");
        }
        if (day === 2 && m === 12 * 60) await tick(ts + 5); // the same values again (QoS 1 redelivery)
        if (day === 1 && m === 12 * 60) {
          r.at(at(1, 12, 0, 30));
          await r.sample(plug, "energycounter", "999999.000"); // a corrupted value, once
        }
        if (day === 2 && m === 14 * 60) {
          r.at(at(2, 14, 0, 20));
          await r.sample(plug, "energycounter", wh(counter - 300)); // an old value from 13:00, replayed
        }
        if (day === 3 && m === 8 * 60 + 50) {
          // 08:58: the unit publishes 40 Wh more, then loses power until 09:00 (those 2 minutes draw nothing);
          // its flash vars were saved 10 Wh before the cut, so it boots at 09:00 from counter + 30
          r.at(at(3, 8, 58));
          await r.sample(plug, "energycounter", wh(counter + 40));
          counter += 30 - 50; // the loop adds 50 for 08:50→09:00 next: the 09:00 value is counter + 30
        }
        if (day === 3 && m === 18 * 60) {
          // EnergyCntReset right after the 18:00 publish; 30 s later the counter shows 2.5 Wh
          r.at(at(3, 18, 0, 30));
          await r.sample(plug, "energycounter", "2.500");
          counter = 0;
        }
      }
    }
    await tick(at(4, 0, 0), counter + 50); // closes day 3

    // (late in wall time, but its own clock times are what count; a unit's samples must only move forward)
    r.at(at(4, 0, 1));
    await r.sample(kwhUnit, "energycounter", "12.345");
    r.at(at(4, 0, 11));
    await r.sample(kwhUnit, "energycounter", "12.845");

    const days = await dailyWh(srv, "unit", "obkPLUG01", at(1, 0, 0), at(5, 0, 0));
    // day 3: 7200 − the 10 Wh the 2-minute cut did not draw; the reset and the lost flash vars cost nothing
    assertEquals(days, { "2026-10-05": 7200, "2026-10-06": 7200, "2026-10-07": 7190 });
    assertEquals(await dailyWh(srv, "unit", "obkKWH01", at(1, 0, 0), at(5, 0, 0)), { "2026-10-08": 500 });
    assertEquals(await dailyWh(srv, "site", "plant-1", at(1, 0, 0), at(5, 0, 0)), { ...days, "2026-10-08": 500 });
    assertEquals(await dailyWh(srv, "fleet", "all", at(1, 0, 0), at(5, 0, 0)), { ...days, "2026-10-08": 500 });

    // the rollups agree at every level: hours and minutes of day 2 add up to the day, the month to all days
    const series = async (level: string, from: number, to: number) =>
      (await (await srv.api(`/api/energy/series?scope=unit&id=obkPLUG01&level=${level}&from=${from}&to=${to}`)).json())
        .totalWh;
    assertEquals(await series("hour", at(2, 0, 0), at(3, 0, 0)), 7200);
    const dense = await (await srv.api(
      `/api/energy/series?scope=unit&id=obkPLUG01&level=hour&format=dense&from=${at(1, 0, 0)}&to=${at(4, 0, 0)}`,
    )).json();
    assertEquals([dense.wh.length, dense.totalWh, dense.wh[0], dense.wh[24 + 15]], [72, 7200 * 2 + 7190, 300, 300]);
    assertEquals(await series("minute", at(2, 0, 0), at(3, 0, 0)), 7200);
    assertEquals(await series("month", Date.UTC(2026, 9, 1), Date.UTC(2026, 10, 1)), 7200 + 7200 + 7190);
    // the Wi-Fi gap's 900 Wh are spread over the three hours it covered
    const gap = await (await srv.api(
      `/api/energy/series?scope=unit&id=obkPLUG01&level=hour&from=${at(2, 15, 0)}&to=${at(2, 18, 0)}`,
    )).json();
    assertEquals(gap.points.map((p: { wh: number }) => Math.round(p.wh)), [150, 150, 150].map((x) => x * 2));

    // CSV export of the same range
    const csv = await (await srv.api(
      `/api/energy/export.csv?scope=unit&id=obkPLUG01&level=day&from=${at(1, 0, 0)}&to=${at(5, 0, 0)}`,
    )).text();
    assertEquals(csv.trim().split("\n"), [
      "bucket_start_utc,bucket_start_ms,kwh,bucket_start_local",
      `2026-10-05T00:00:00.000Z,${at(1, 0, 0)},7.200000,2026-10-05T00:00+00:00`,
      `2026-10-06T00:00:00.000Z,${at(2, 0, 0)},7.200000,2026-10-06T00:00+00:00`,
      `2026-10-07T00:00:00.000Z,${at(3, 0, 0)},7.190000,2026-10-07T00:00+00:00`,
    ]);

    // fleet table: "today" is day 4 (00:00–00:11) by the server clock
    const fleet = await (await srv.api("/api/energy/fleet")).json();
    const row = fleet.units.find((u: { deviceId: string }) => u.deviceId === "obkKWH01");
    assertEquals([row.todayWh, row.monthWh, row.site], [500, 500, "plant-1"]);
    assertEquals(fleet.fleet.monthWh, 7200 + 7200 + 7190 + 500);

    // the pages render the same figures
    const page = await (await srv.api("/energy")).text();
    assertEquals(/data-meter="obkKWH01".*?data-field="today">0\.500</.test(page), true);
    const unitPage = await srv.api("/energy/unit/obkPLUG01");
    assertEquals([unitPage.status, /reboots seen (<!-- -->)?2 /.test(await unitPage.text())], [200, true]);
    const sitePage = await srv.api("/energy/site/plant-1");
    assertEquals([sitePage.status, (await sitePage.text()).includes("obkKWH01")], [200, true]);
  } finally {
    r.close();
    await plug.close();
    await kwhUnit.close();
    await srv.close();
  }
});
