/**
 * What an energy page shows for one period (a local day, ISO week, month or
 * year in the fleet's zone): the bucket grid, one row of kWh per bucket for
 * each of the largest members (meters of a site or of the fleet) plus the
 * rest, and the total. The page's chart, its table and its CSV all come from
 * one `EnergyBreakdown`, so they always agree.
 */
import { energyAt, energySeries, FLEET_ID, listEnergyStates, rollupKey, type Scope } from "./store.ts";
import { type Level, nextBucket } from "./buckets.ts";
import { localIso, shiftMonths, type Zone } from "../../shared/zone.ts";

export const PERIODS = ["day", "week", "month", "year"] as const;
export type PeriodKind = (typeof PERIODS)[number];

const DAY = 86_400_000;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export interface Period {
  kind: PeriodKind;
  /** first instant of the period (local midnight) */
  from: number;
  /** first instant after it */
  to: number;
  /** bucket size of the chart: hours of a day, days of a week or month, months of a year */
  level: Level;
  /** local date (YYYY-MM-DD) of the period's first day: what the date picker and links carry */
  date: string;
  prevDate: string;
  /** null when the next period has not started yet */
  nextDate: string | null;
  /** today's local date */
  today: string;
  /** "Tue 1 Dec 2026", "Week of 30 Nov 2026", "December 2026", "2026" */
  label: string;
  current: boolean;
}

const LEVEL_OF: Record<PeriodKind, Level> = { day: "hour", week: "day", month: "day", year: "month" };

/** Local day number (days since 1970-01-01 on the local calendar) of `ts`. */
function localDay(zone: Zone, ts: number): number {
  return Math.floor((ts + zone.offsetMin(ts) * 60_000) / DAY);
}
const dateOfDay = (n: number) => new Date(n * DAY).toISOString().slice(0, 10);

/** "2026-12-01" → its local day number, or null when it is not a real date. */
export function parseLocalDate(s: string | null | undefined): number | null {
  const m = s?.match(/^(\d{4})-(\d{2})-(\d{2})$/);
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3]);
  if (new Date(t).toISOString().slice(0, 10) !== s) return null;
  return t / DAY;
}

/** The first day of the period of `kind` holding local day `n`. */
function periodStartDay(kind: PeriodKind, n: number): number {
  const d = new Date(n * DAY);
  switch (kind) {
    case "day":
      return n;
    case "week":
      return n - ((n + 3) % 7 + 7) % 7; // 1970-01-01 was a Thursday; weeks start on Monday
    case "month":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / DAY;
    case "year":
      return Date.UTC(d.getUTCFullYear(), 0, 1) / DAY;
  }
}

function shiftPeriodDay(kind: PeriodKind, start: number, by: number): number {
  const d = new Date(start * DAY);
  switch (kind) {
    case "day":
      return start + by;
    case "week":
      return start + 7 * by;
    case "month":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + by, 1) / DAY;
    case "year":
      return Date.UTC(d.getUTCFullYear() + by, 0, 1) / DAY;
  }
}

function periodLabel(kind: PeriodKind, start: number): string {
  const d = new Date(start * DAY);
  const dm = (x: Date) => `${x.getUTCDate()} ${MONTHS[x.getUTCMonth()]} ${x.getUTCFullYear()}`;
  switch (kind) {
    case "day":
      return `${WEEKDAYS[(d.getUTCDay() + 6) % 7]} ${dm(d)}`;
    case "week":
      return `Week of ${dm(d)}`;
    case "month":
      return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
    case "year":
      return String(d.getUTCFullYear());
  }
}

/** The period of `kind` holding local date `date` (today when missing or invalid). */
export function periodOf(zone: Zone, kind: PeriodKind, date: string | null | undefined, now: number): Period {
  const todayN = localDay(zone, now);
  const n = parseLocalDate(date) ?? todayN;
  const start = periodStartDay(kind, n);
  const next = shiftPeriodDay(kind, start, 1);
  return {
    kind,
    from: zone.dayStartOf(start),
    to: zone.dayStartOf(next),
    level: LEVEL_OF[kind],
    date: dateOfDay(start),
    prevDate: dateOfDay(shiftPeriodDay(kind, start, -1)),
    nextDate: next <= todayN ? dateOfDay(next) : null,
    today: dateOfDay(todayN),
    label: periodLabel(kind, start),
    current: start <= todayN && todayN < next,
  };
}

export function isPeriodKind(s: string | null | undefined): s is PeriodKind {
  return (PERIODS as readonly string[]).includes(s ?? "");
}

/** Short axis label and a long one (table, tooltip) of a bucket, in the fleet's zone. */
export function bucketLabels(level: Level, ts: number, zone: Zone, kind: PeriodKind): { short: string; long: string } {
  const iso = localIso(zone, ts); // 2026-12-01T14:00+01:00
  const n = localDay(zone, ts);
  const d = new Date(n * DAY);
  const wd = WEEKDAYS[(d.getUTCDay() + 6) % 7];
  const dm = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  switch (level) {
    case "minute":
    case "hour":
      return { short: iso.slice(11, 16), long: `${wd} ${dm} ${iso.slice(11, 16)}` };
    case "day":
      return {
        short: kind === "week" ? `${wd} ${d.getUTCDate()}` : String(d.getUTCDate()),
        long: `${wd} ${dm} ${d.getUTCFullYear()}`,
      };
    case "month":
      return { short: MONTHS[d.getUTCMonth()], long: `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}` };
  }
}

export interface BreakdownSeries {
  /** meter id, or "other" for the rest of the scope's energy */
  id: string;
  label: string;
  /** kWh per bucket */
  kwh: number[];
  totalKwh: number;
}

export interface EnergyBreakdown {
  scope: Scope;
  id: string;
  period: Period;
  zoneName: string;
  /** bucket starts (ms) shown: the period's, less those before the scope's first data and those not begun yet */
  buckets: number[];
  labels: string[];
  longLabels: string[];
  /** largest members first; one series for a single meter */
  series: BreakdownSeries[];
  /** kWh per bucket of the whole scope */
  totalKwh: number[];
  sumKwh: number;
  /** true when buckets before the first data were left out (a new installation) */
  trimmedStart: boolean;
  /** kWh in the period of every member of a site or the fleet (a meter: itself) */
  memberKwh: Record<string, number>;
  /** local date of the first bucket with data, for "go to the first data" */
  firstDate: string | null;
  firstLabel: string | null;
}

/** Members drawn separately in a stacked chart; the rest is one "other" band. */
export const MAX_STACKED = 8;

/** Start of the first bucket at `level` holding energy of the scope (hours, days and months are never pruned). */
async function firstData(kv: Deno.Kv, scope: Scope, id: string, level: Level): Promise<number | null> {
  for await (const e of kv.list({ prefix: ["energy", scope, id, level] }, { limit: 1 })) return e.key[4] as number;
  return null;
}

/** Keys whose sum is a member's energy over the period, at the coarsest level that fits it. */
export function periodKeys(scope: Scope, id: string, p: Period, zone: Zone): Deno.KvKey[] {
  if (p.kind === "day") return [rollupKey(scope, id, "day", p.from)];
  if (p.kind === "month") return [rollupKey(scope, id, "month", p.from)];
  const keys: Deno.KvKey[] = [];
  const level: Level = p.kind === "week" ? "day" : "month";
  for (let t = p.from; t < p.to; t = nextBucket(level, t, zone)) keys.push(rollupKey(scope, id, level, t));
  return keys;
}

/** Every bucket of the period at its level. */
function bucketGrid(p: Period, zone: Zone): number[] {
  const out: number[] = [];
  for (let t = p.from; t < p.to; t = p.level === "month" ? shiftMonths(zone, t, 1) : nextBucket(p.level, t, zone)) {
    out.push(t);
  }
  return out;
}

export async function energyBreakdown(
  kv: Deno.Kv,
  zone: Zone,
  scope: Scope,
  id: string,
  period: Period,
  now: number,
  maxStacked = MAX_STACKED,
): Promise<EnergyBreakdown> {
  const scopeId = scope === "fleet" ? FLEET_ID : id;
  const full = bucketGrid(period, zone);
  const first = await firstData(kv, scope, scopeId, period.level);
  // nothing before the first data (a new installation fills the chart, not its right edge), nothing not begun yet
  let grid = first === null ? [] : full.filter((_t, i) => (i + 1 < full.length ? full[i + 1] : period.to) > first);
  const trimmedStart = grid.length > 0 && grid.length < full.length && grid[0] > full[0];
  grid = grid.filter((t) => t <= now);
  const index = new Map(grid.map((t, i) => [t, i]));
  const series = async (s: Scope, sid: string) => {
    const kwh = new Array<number>(grid.length).fill(0);
    if (!grid.length) return kwh;
    for (const pt of await energySeries(kv, s, sid, period.level, grid[0], period.to, { zone, now })) {
      const i = index.get(pt.ts);
      if (i !== undefined) kwh[i] += pt.wh / 1000;
    }
    return kwh.map((x) => Math.round(x * 1e6) / 1e6);
  };
  const totalKwh = await series(scope, scopeId);
  const out: BreakdownSeries[] = [];
  const memberKwh: Record<string, number> = {};
  if (scope === "unit") {
    out.push({ id, label: id, kwh: totalKwh, totalKwh: sum(totalKwh) });
    memberKwh[id] = sum(totalKwh);
  } else {
    const members = (await listEnergyStates(kv))
      .filter((s) => scope === "fleet" || s.site === id)
      .map((s) => s.deviceId);
    // rank members by their energy in the period (a few reads each), then fetch the largest ones' buckets
    const keys = members.map((m) => periodKeys("unit", m, period, zone));
    const flat = await energyAt(kv, keys.flat());
    let at = 0;
    const ranked = members.map((m, i) => {
      let wh = 0;
      for (let j = 0; j < keys[i].length; j++) wh += flat[at++];
      memberKwh[m] = Math.round(wh * 1000) / 1e6;
      return { m, wh };
    }).filter((x) => x.wh > 0).sort((a, b) => b.wh - a.wh || a.m.localeCompare(b.m));
    const top = ranked.length > maxStacked ? ranked.slice(0, maxStacked - 1) : ranked;
    const rest = totalKwh.slice();
    for (const { m } of top) {
      const kwh = await series("unit", m);
      kwh.forEach((x, i) => rest[i] -= x);
      out.push({ id: m, label: m, kwh, totalKwh: sum(kwh) });
    }
    const other = rest.map((x) => Math.max(0, Math.round(x * 1e6) / 1e6));
    if (other.some((x) => x >= 0.0005)) {
      const label = ranked.length > top.length
        ? `${ranked.length - top.length} other meters`
        : "other (earlier members)";
      out.push({ id: "other", label, kwh: other, totalKwh: sum(other) });
    }
  }
  const labels = grid.map((t) => bucketLabels(period.level, t, zone, period.kind));
  return {
    scope,
    id: scopeId,
    period,
    zoneName: zone.name,
    buckets: grid,
    labels: labels.map((l) => l.short),
    longLabels: labels.map((l) => l.long),
    series: out,
    totalKwh,
    sumKwh: sum(totalKwh),
    trimmedStart,
    memberKwh,
    firstDate: first === null ? null : localIso(zone, first).slice(0, 10),
    firstLabel: first === null ? null : bucketLabels(period.level, first, zone, period.kind).long,
  };
}

const sum = (xs: number[]) => Math.round(xs.reduce((s, x) => s + x, 0) * 1e6) / 1e6;

/** The breakdown as CSV: one row per bucket, one column per series, then the total (what the page's table shows). */
export function breakdownCsv(b: EnergyBreakdown, zone: Zone, cell: (v: string | number) => string): string {
  const lines = [
    ["bucket_start_utc", "bucket_start_ms", "bucket_start_local", ...b.series.map((s) => `${s.label}_kwh`), "total_kwh"]
      .map(cell).join(","),
  ];
  b.buckets.forEach((t, i) => {
    lines.push(
      [
        new Date(t).toISOString(),
        t,
        localIso(zone, t),
        ...b.series.map((s) => s.kwh[i].toFixed(6)),
        b.totalKwh[i].toFixed(6),
      ].map(cell).join(","),
    );
  });
  return lines.join("\n") + "\n";
}
