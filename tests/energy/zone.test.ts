import { assertEquals, assertThrows } from "@std/assert";
import {
  dayStart,
  fixedZone,
  localIso,
  nextDayStart,
  shiftDays,
  shiftMonths,
  UTC,
  wallMinuteOfDay,
  zoneByName,
  ZoneError,
} from "../../shared/zone.ts";
import { zoneFromEnv } from "../../server/config.ts";

const H = 3_600_000;

Deno.test("zones by name: IANA, UTC, fixed offsets round-trip their names; unknown ones are refused with the name", () => {
  assertEquals(zoneByName("UTC"), UTC);
  assertEquals(zoneByName("Etc/UTC"), UTC);
  assertEquals(zoneByName("Europe/Berlin").name, "Europe/Berlin");
  assertEquals(zoneByName("Europe/Berlin"), zoneByName("Europe/Berlin")); // one shared instance, one cache
  assertEquals(fixedZone(-330).name, "UTC-05:30");
  assertEquals(zoneByName(fixedZone(-330).name).offsetMin(0), -330);
  assertEquals(zoneByName("UTC+05:45").offsetMin(0), 345);
  const e = assertThrows(() => zoneByName("Mars/Olympus_Mons"), ZoneError);
  assertEquals(e.message.includes("Mars/Olympus_Mons"), true);
  assertThrows(() => fixedZone(15 * 60), ZoneError);
  assertThrows(() => fixedZone(1.5), ZoneError);
});

Deno.test("zone from the environment: FLEET_TZ, else the older fixed offset, else the host's zone; a bad name stops start-up", () => {
  assertEquals(zoneFromEnv({ FLEET_TZ: "America/New_York" }).name, "America/New_York");
  assertEquals(zoneFromEnv({ FLEET_TZ: "Europe/Berlin", ENERGY_TZ_OFFSET_MIN: "60" }).name, "Europe/Berlin");
  assertEquals(zoneFromEnv({ ENERGY_TZ_OFFSET_MIN: "120" }).name, "UTC+02:00");
  assertEquals(zoneFromEnv({}).name, zoneByName(Intl.DateTimeFormat().resolvedOptions().timeZone).name);
  const e = assertThrows(() => zoneFromEnv({ FLEET_TZ: "Berlin" }), Error);
  assertEquals(e.message.startsWith("FLEET_TZ"), true);
  assertThrows(() => zoneFromEnv({ ENERGY_TZ_OFFSET_MIN: "ninety" }), Error);
});

Deno.test("offsets and wall clock follow DST; local ISO carries the offset", () => {
  const ny = zoneByName("America/New_York");
  assertEquals([ny.offsetMin(Date.UTC(2026, 0, 15)), ny.offsetMin(Date.UTC(2026, 6, 15))], [-300, -240]);
  // US spring forward 8 March 2026 at 07:00 UTC: the minute before and after
  assertEquals([ny.offsetMin(Date.UTC(2026, 2, 8, 6, 59)), ny.offsetMin(Date.UTC(2026, 2, 8, 7, 0))], [-300, -240]);
  assertEquals(wallMinuteOfDay(ny, Date.UTC(2026, 6, 15, 2, 30)), 22 * 60 + 30);
  assertEquals(localIso(ny, Date.UTC(2026, 6, 15, 2, 30)), "2026-07-14T22:30-04:00");
  assertEquals(localIso(fixedZone(330), 0), "1970-01-01T05:30+05:30");
  assertEquals(localIso(UTC, 0), "1970-01-01T00:00+00:00");
});

Deno.test("day starts: a zone that springs forward at midnight starts that day at 01:00; shifts count local days and months", () => {
  // Chile springs forward at 24:00 on the first Saturday of September: Sunday 6 Sept 2026 has no 00:00
  const cl = zoneByName("America/Santiago");
  const sun = dayStart(cl, Date.UTC(2026, 8, 6, 12));
  assertEquals(sun, Date.UTC(2026, 8, 6, 4));
  assertEquals(localIso(cl, sun), "2026-09-06T01:00-03:00");
  assertEquals(nextDayStart(cl, dayStart(cl, Date.UTC(2026, 8, 5, 12))), sun);
  const berlin = zoneByName("Europe/Berlin");
  // 30 local days back from 10 November crosses the October change: still local midnight
  assertEquals(localIso(berlin, shiftDays(berlin, Date.UTC(2026, 10, 10, 12), -30)), "2026-10-11T00:00+02:00");
  assertEquals(localIso(berlin, shiftMonths(berlin, Date.UTC(2026, 10, 10, 12), -11)), "2025-12-01T00:00+01:00");
  // India: half-hour offset, no DST
  assertEquals(dayStart(zoneByName("Asia/Kolkata"), Date.UTC(2026, 0, 1, 12)), Date.UTC(2025, 11, 31, 18, 30));
  assertEquals(shiftDays(UTC, Date.UTC(2026, 0, 1, 12), 1) - shiftDays(UTC, Date.UTC(2026, 0, 1, 12), 0), 24 * H);
});
