/** The pure summaries the rollout pages draw from: device states to bar parts, and refusals to form fields. */
import { assertEquals } from "@std/assert";
import { DEVICE_STATES, deviceBadge, progressOf, progressOfCounts, progressPart } from "../../shared/ota.ts";
import { bodyFrom, fieldOfError, valuesFrom } from "../../routes/rollouts/index.tsx";

Deno.test("progress parts: every device state lands in exactly one part; counts and device lists agree", () => {
  assertEquals(Object.fromEntries(DEVICE_STATES.map((s) => [s, progressPart(s)])), {
    scheduled: "waiting",
    commanded: "active",
    downloading: "active",
    rebooting: "active",
    verified: "verified",
    failed: "failed",
    timed_out: "failed",
    skipped_offline: "waiting",
    skipped: "other",
    cancelled: "other",
  });
  const devices = [
    { state: "verified", group: 0 },
    { state: "verified", group: 1 },
    { state: "timed_out", group: 1 },
    { state: "downloading", group: 1 },
    { state: "skipped_offline", group: 1 },
    { state: "scheduled", group: 2 },
  ] as const;
  assertEquals(progressOf(devices), { verified: 2, failed: 1, active: 1, waiting: 2, other: 0, total: 6 });
  assertEquals(progressOf(devices, 1), { verified: 1, failed: 1, active: 1, waiting: 1, other: 0, total: 4 });
  assertEquals(progressOf(devices, 7).total, 0);
  assertEquals(
    progressOfCounts({ verified: 2, timed_out: 1, downloading: 1, skipped_offline: 1, scheduled: 1 }),
    progressOf(devices),
  );
  assertEquals([deviceBadge("verified"), deviceBadge("timed_out"), deviceBadge("rebooting")], [
    "ok",
    "failed",
    "running",
  ]);
});

Deno.test("rollout form: a refusal names the field it is shown under", () => {
  const cases: [string, string | null][] = [
    ['group early share: a number, got "twenty"', "groups"],
    ["groups: group percentages must add up to 100", "groups"],
    ["groups.0.percent: Too small: expected number to be >=0.1", "groups"],
    ['pacing: a number, got "fast"', "pacingPerMin"],
    ["start at: not a date: tomorrow", "startAt"],
    ["name: Too small: expected string to have >=1 characters", "name"],
    ["baseUrl: plain http://host[:port]: OpenBeken cannot fetch over HTTPS", "baseUrl"],
    ["window.start: Invalid string: must match pattern /^\\d\\d:\\d\\d$/", "windowStart"],
    ["bad time 25:00", "windowStart"],
    ["window.end: Invalid string", "windowEnd"],
    ["window: unknown time zone Mars/Olympus", "timeZone"],
    ["no such firmware fw-x", "firmwareId"],
    ["OpenBK7231N_QIO_1.18.300.bin is a qio image: only RBL packages may be sent over the air", "firmwareId"],
    ["filter.site: Too big", "site"],
    ["no unit matches: nothing to start", null],
  ];
  assertEquals(cases.map(([m]) => [m, fieldOfError(m)]), cases);
});

Deno.test("rollout form: the chip report timeout is given in minutes, blank keeps the default, a bad value names its field", () => {
  const form = (timeout: string) => {
    const f = new FormData();
    for (const [k, v] of [["name", "n"], ["firmwareId", "fw-1"], ["group_name", "all"], ["group_percent", "100"]]) {
      f.append(k, v);
    }
    f.append("chipTimeoutMin", timeout);
    return valuesFrom(f);
  };
  assertEquals(bodyFrom(form("5")).chipTimeoutMs, 300_000);
  assertEquals(bodyFrom(form("")).chipTimeoutMs, undefined);
  let refused = "";
  try {
    bodyFrom(form("soon"));
  } catch (e) {
    refused = (e as Error).message;
  }
  assertEquals(fieldOfError(refused), "chipTimeoutMin");
});
