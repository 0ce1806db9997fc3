import { assertEquals } from "@std/assert";
import {
  accountSample,
  DEFAULT_ACCOUNTING,
  type EnergySample,
  type EnergyState,
  newEnergyState,
} from "../../server/energy/accounting.ts";
import { bucketStart, nextBucket, rollUp, spreadSpan } from "../../server/energy/buckets.ts";
import { fixedZone, UTC, zoneByName } from "../../shared/zone.ts";

const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);
const MIN = 60_000;

/** Counter samples [minute offset, Wh]; returns the total counted in Wh. */
function counted(
  series: [number, number][],
  opts: { wrapWh?: number } = {},
  state: EnergyState = newEnergyState("m"),
): { wh: number; state: EnergyState } {
  let st = state;
  let mwh = 0;
  for (const [min, wh] of series) {
    const s: EnergySample = { deviceId: "m", ts: T0 + min * MIN, powerW: 0, counterWh: wh, hasCounter: true };
    const r = accountSample(st, s, { ...DEFAULT_ACCOUNTING, maxPowerW: 5000, wrapWh: opts.wrapWh ?? 0 });
    for (const sp of r.spans) mwh += sp.mwh;
    st = r.state;
  }
  assertEquals(st.totalMwh - state.totalMwh, mwh);
  return { wh: mwh / 1000, state: st };
}

Deno.test("counter: plain growth counts exactly; the first value is only a baseline", () => {
  assertEquals(counted([[0, 1000], [1, 1010.5], [2, 1021.25], [10, 1100]]).wh, 100);
});

Deno.test("counter: '0 then the old value' after a reboot adds only real growth (Home Assistant would add 1000 Wh)", () => {
  assertEquals(counted([[0, 1000], [1, 1001], [2, 0], [3, 1001.5], [4, 1003]]).wh, 3);
  // several zeros in a row, within the confirmation time, are still a glitch
  assertEquals(counted([[0, 1000], [1, 0], [1.5, 0], [2, 0], [3, 1002]]).wh, 2);
});

Deno.test("counter: a real reset to 0 re-bases after one confirming sample, nothing negative", () => {
  // EnergyCntReset at minute 2: 0, then 0.5, 2.5 ... counted from the first growth after the new level
  const r = counted([[0, 5000], [1, 5010], [2, 0], [3, 0.5], [4, 2.5], [5, 4.5]]);
  assertEquals(r.wh, 10 + 0.5 + 2 + 2);
  // a reset that holds at 0 (no load) for the confirmation time is trusted too
  assertEquals(counted([[0, 5000], [1, 0], [7, 0], [8, 1]]).wh, 1);
  // reset between two publishes: the first value after it is growth since zero
  assertEquals(counted([[0, 5000], [1, 5010], [2, 3], [3, 8]]).wh, 10 + 3 + 5);
});

Deno.test("counter: lost flash vars after a power cut (counter comes back lower) never go negative or double", () => {
  // saved at 990, reached 999.5 before the cut; after boot 990, 991, 992: only post-boot growth counts
  assertEquals(counted([[0, 980], [5, 999.5], [9, 990], [10, 991], [11, 992]]).wh, 19.5 + 1 + 1);
  // with a zero before the flash vars load
  assertEquals(counted([[0, 980], [5, 999.5], [9, 0], [9.5, 990], [10, 991], [11, 992]]).wh, 19.5 + 1 + 1);
});

Deno.test("counter: lost flash vars after a reboot: growth counts from the restored level", () => {
  let st = newEnergyState("f");
  let mwh = 0;
  const feed = (min: number, wh: number, bootedAt: number) => {
    const r = accountSample(st, {
      deviceId: "f",
      ts: T0 + min * MIN,
      powerW: 300,
      counterWh: wh,
      hasCounter: true,
      bootedAt,
    });
    for (const sp of r.spans) mwh += sp.mwh;
    st = r.state;
  };
  const boot1 = T0 - 86_400_000, boot2 = T0 + 9 * MIN;
  feed(0, 1000, boot1);
  feed(8, 1040, boot1); // then a power cut; flash saved at 1030
  feed(9, 1030, boot1); // first value after boot, before the uptime told us about the reboot
  feed(19, 1080, boot2); // 50 Wh since boot
  assertEquals(mwh, 40_000 + 50_000);
  // the same drop without a reboot (an old value replayed) is not trusted
  st = newEnergyState("f");
  mwh = 0;
  feed(0, 1000, boot1);
  feed(8, 1040, boot1);
  feed(9, 1030, boot1);
  feed(19, 1090, boot1);
  assertEquals(mwh, 40_000 + 50_000);
});

Deno.test("counter: an implausible spike is ignored, whether it comes back or not", () => {
  assertEquals(counted([[0, 100], [1, 101], [2, 999999], [3, 102]]).wh, 2);
  // the unit was re-flashed with a larger total: trusted once it continues from there
  assertEquals(counted([[0, 100], [1, 101], [2, 50000], [3, 50001], [4, 50003]]).wh, 1 + 1 + 2);
});

Deno.test("counter: a wrap with a known modulus is followed exactly; without it, re-based (no spike)", () => {
  assertEquals(counted([[0, 65530], [1, 65535], [2, 4], [3, 9]], { wrapWh: 65536 }).wh, 5 + 5 + 5);
  // unknown modulus: the new small level counts as growth from zero; only the 1 Wh up to the wrap is lost
  assertEquals(counted([[0, 65530], [1, 65535], [2, 4], [3, 9]]).wh, 5 + 4 + 5);
});

Deno.test("replays, duplicates and out-of-order samples count nothing twice", () => {
  const a = counted([[0, 100], [1, 110], [2, 120]]);
  // the same three again (a replayed batch), then an older one, then a duplicate timestamp
  const b = counted([[0, 100], [1, 110], [2, 120], [1.5, 115], [2, 125]], {}, a.state);
  assertEquals(b.wh, 0);
  assertEquals(counted([[3, 130]], {}, b.state).wh, 10);
});

Deno.test("power integration (no counter): step-wise, gaps beyond maxGap not bridged, export adds nothing", () => {
  let st = newEnergyState("p");
  let mwh = 0;
  const feed = (min: number, w: number) => {
    const r = accountSample(st, { deviceId: "p", ts: T0 + min * MIN, powerW: w, counterWh: null, hasCounter: false });
    for (const sp of r.spans) mwh += sp.mwh;
    st = r.state;
  };
  feed(0, 600); // 600 W for 1 min = 10 Wh
  feed(1, 1200); // 1200 W for 2 min = 40 Wh
  feed(3, 0); // reboot reports 0 for a minute
  feed(4, 60); // 60 W for 60 min over 60 one-minute samples = 60 Wh
  for (let m = 5; m <= 64; m++) feed(m, 60);
  feed(100, 60); // 36-minute gap: not integrated
  feed(101, -500); // exporting: 60 W for the minute before, nothing after
  feed(102, 0);
  assertEquals(mwh, 10_000 + 40_000 + 60_000 + 1_000);
  // a duplicate of the last sample adds nothing
  const again = accountSample(st, {
    deviceId: "p",
    ts: T0 + 102 * MIN,
    powerW: 5000,
    counterWh: null,
    hasCounter: false,
  });
  assertEquals(again.spans, []);
});

Deno.test("a unit with a counter is not integrated from power too", () => {
  let st = newEnergyState("c");
  let mwh = 0;
  const feed = (min: number, w: number, c: number | null) => {
    const r = accountSample(st, { deviceId: "c", ts: T0 + min * MIN, powerW: w, counterWh: c, hasCounter: true });
    for (const sp of r.spans) mwh += sp.mwh;
    st = r.state;
  };
  feed(0, 1000, 50);
  feed(1, 1000, null);
  feed(2, 1000, null);
  feed(3, 1000, 100);
  assertEquals(mwh, 50_000);
});

Deno.test("spreading: whole mWh, sums preserved, split at midnight by duration", () => {
  const m = spreadSpan({ from: T0 - 30 * MIN, to: T0 + 90 * MIN, mwh: 1001 });
  assertEquals([...m.values()].reduce((a, b) => a + b, 0), 1001);
  const days = rollUp(m).get("day")!;
  assertEquals(days.get(T0 - 86_400_000), 250); // a quarter of the interval was yesterday (1001/4 = 250.25)
  assertEquals(days.get(T0), 751);
  // a three-week gap is spread over days, each piece landing inside its day
  const long = rollUp(spreadSpan({ from: T0, to: T0 + 21 * 86_400_000, mwh: 21_000 })).get("day")!;
  assertEquals(long.size, 21);
  assertEquals([...long.values()].every((v) => v === 1000), true);
});

Deno.test("day and month boundaries follow a fixed UTC offset", async () => {
  const { bucketStart } = await import("../../server/energy/buckets.ts");
  const cet = fixedZone(60);
  // 23:30 UTC on 31 March is already 1 April in UTC+1
  const ts = Date.UTC(2026, 2, 31, 23, 30);
  assertEquals(bucketStart("day", ts, cet), Date.UTC(2026, 2, 31, 23, 0));
  assertEquals(bucketStart("month", ts, cet), Date.UTC(2026, 2, 31, 23, 0));
  assertEquals(bucketStart("day", ts, UTC), Date.UTC(2026, 2, 31));
  assertEquals(bucketStart("month", ts, UTC), Date.UTC(2026, 2, 1));
  const days = rollUp(spreadSpan({ from: ts - 60 * MIN, to: ts + 30 * MIN, mwh: 900 }), cet).get("day")!;
  assertEquals([...days.entries()], [[Date.UTC(2026, 2, 30, 23, 0), 300], [Date.UTC(2026, 2, 31, 23, 0), 600]]);
});

Deno.test("in a named zone, the DST days have 23 and 25 hours and every hour's energy lands in its local day", () => {
  const berlin = zoneByName("Europe/Berlin");
  const H = 3_600_000;
  // 2026: CET→CEST on 29 March at 01:00 UTC, back on 25 October at 01:00 UTC
  const spring = bucketStart("day", Date.UTC(2026, 2, 29, 12), berlin);
  const autumn = bucketStart("day", Date.UTC(2026, 9, 25, 12), berlin);
  assertEquals([spring, nextBucket("day", spring, berlin) - spring], [Date.UTC(2026, 2, 28, 23), 23 * H]);
  assertEquals([autumn, nextBucket("day", autumn, berlin) - autumn], [Date.UTC(2026, 9, 24, 22), 25 * H]);
  // April starts at Berlin midnight, which is 22:00 UTC the day before (summer time)
  assertEquals(bucketStart("month", Date.UTC(2026, 3, 15), berlin), Date.UTC(2026, 2, 31, 22));
  assertEquals(nextBucket("month", Date.UTC(2026, 2, 31, 22), berlin), Date.UTC(2026, 3, 30, 22));
  // 1 kW for the 48 hours from Saturday 24 Oct 00:00 local: Saturday gets 24 kWh, the 25-hour Sunday gets the other 24
  const from = Date.UTC(2026, 9, 23, 22);
  const days = rollUp(spreadSpan({ from, to: from + 48 * H, mwh: 48_000_000 }, berlin), berlin).get("day")!;
  assertEquals([...days.entries()], [[from, 24_000_000], [autumn, 24_000_000]]);
  // the same 1 kW over the whole autumn Sunday is 25 kWh, over the spring Sunday 23 kWh
  const sunday = rollUp(spreadSpan({ from: autumn, to: autumn + 25 * H, mwh: 25_000_000 }, berlin), berlin).get("day")!;
  assertEquals([...sunday.entries()], [[autumn, 25_000_000]]);
  const month = rollUp(spreadSpan({ from: spring, to: spring + 23 * H, mwh: 23_000_000 }, berlin), berlin).get(
    "month",
  )!;
  assertEquals([...month.entries()], [[Date.UTC(2026, 1, 28, 23), 23_000_000]]);
});
