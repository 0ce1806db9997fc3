/**
 * Time buckets for energy rollups, and spreading an interval's energy over
 * them in whole milli-watt-hours (cumulative rounding, so the pieces always sum
 * to the interval's total and minute, hour, day and month rollups agree).
 *
 * Days and months start at local midnight in the installation's zone
 * (shared/zone.ts: an IANA zone follows summer time, so a day may be 23 or 25
 * hours). Minutes and hours are UTC-aligned, which is local-aligned too in
 * every whole-hour zone.
 */
import type { Span } from "./accounting.ts";
import { dayStart, monthStart, nextDayStart, nextMonthStart, UTC, type Zone } from "../../shared/zone.ts";

export const LEVELS = ["minute", "hour", "day", "month"] as const;
export type Level = (typeof LEVELS)[number];

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

export function bucketStart(level: Level, ts: number, zone: Zone = UTC): number {
  switch (level) {
    case "minute":
      return Math.floor(ts / MIN) * MIN;
    case "hour":
      return Math.floor(ts / HOUR) * HOUR;
    case "day":
      return dayStart(zone, ts);
    case "month":
      return monthStart(zone, ts);
  }
}

export function nextBucket(level: Level, start: number, zone: Zone = UTC): number {
  switch (level) {
    case "minute":
      return start + MIN;
    case "hour":
      return start + HOUR;
    case "day":
      return nextDayStart(zone, start);
    case "month":
      return nextMonthStart(zone, start);
  }
}

/** Pieces of an interval at a granularity that keeps the number of keys small. */
function pieceLevel(ms: number): Level {
  if (ms <= 2 * HOUR) return "minute";
  if (ms <= 3 * DAY) return "hour";
  if (ms <= 62 * DAY) return "day";
  return "month";
}

/**
 * Spread a span over time: returns energy per minute bucket (a long span's
 * hour/day/month pieces land in the last minute of each piece).
 */
export function spreadSpan(span: Span, zone: Zone = UTC): Map<number, number> {
  const out = new Map<number, number>();
  if (span.mwh <= 0) return out;
  const { from, to } = span;
  if (to - from <= 0) {
    out.set(bucketStart("minute", Math.max(to - 1, 0)), span.mwh);
    return out;
  }
  const level = pieceLevel(to - from);
  const pieces: { at: number; w: number }[] = [];
  for (let s = bucketStart(level, from, zone); s < to; s = nextBucket(level, s, zone)) {
    const a = Math.max(s, from);
    const b = Math.min(nextBucket(level, s, zone), to);
    if (b > a) pieces.push({ at: bucketStart("minute", b - 1), w: b - a });
  }
  if (pieces.length > 130) {
    // a gap of more than five years: no useful shape to give it, keep the commit small
    out.set(bucketStart("minute", to - 1), span.mwh);
    return out;
  }
  // cumulative rounding: every prefix of pieces gets round(its exact share), so pieces sum to the total
  // and any split point (midnight) is off by less than 1 mWh
  const total = to - from;
  let acc = 0, given = 0;
  for (const p of pieces) {
    acc += p.w;
    const upto = Math.round(span.mwh * acc / total);
    if (upto > given) out.set(p.at, (out.get(p.at) ?? 0) + upto - given);
    given = upto;
  }
  return out;
}

/** Minute-bucket energy → energy per bucket of every level. */
export function rollUp(minutes: Map<number, number>, zone: Zone = UTC): Map<Level, Map<number, number>> {
  const out = new Map<Level, Map<number, number>>(LEVELS.map((l) => [l, new Map()]));
  for (const [m, mwh] of minutes) {
    for (const l of LEVELS) {
      const k = l === "minute" ? m : bucketStart(l, m, zone);
      const map = out.get(l)!;
      map.set(k, (map.get(k) ?? 0) + mwh);
    }
  }
  return out;
}
