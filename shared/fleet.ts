/** What the browser sees of the fleet: shared by the server's API/SSE and the islands. */
import type { Reading } from "./telemetry.ts";

export interface MeterLatest {
  deviceId: string;
  agentId: string;
  reading: Reading;
  /** when the server committed it: the meter's own last-seen */
  committedAt: number;
  /** how often its readings arrive (ms, smoothed); absent until it reported twice */
  intervalMs?: number;
}

export type MeterStatus = "ok" | "stale" | "offline";

export interface FleetSnapshot {
  at: number;
  totalPowerW: number;
  meters: MeterLatest[];
}

/** A meter's interval until it has reported twice. */
export const DEFAULT_INTERVAL_MS = 5_000;

/**
 * A meter is stale when nothing was committed for it for more than 3 of its
 * intervals (at least 2 s, for batching), and offline after 12 of them (at
 * least a minute): an agent off, a unit unplugged. It is never dropped.
 */
export function meterStatus(m: Pick<MeterLatest, "committedAt" | "intervalMs">, now: number): MeterStatus {
  const interval = m.intervalMs ?? DEFAULT_INTERVAL_MS;
  const age = now - m.committedAt;
  if (age > Math.max(12 * interval, 60_000)) return "offline";
  if (age > Math.max(3 * interval, 2_000)) return "stale";
  return "ok";
}

/** How the live view orders meters: problems (offline, stale) first, then the biggest consumers. */
export const LIVE_SORTS = ["problems", "power", "energy", "id", "seen"] as const;
export type LiveSort = typeof LIVE_SORTS[number];
export const LIVE_STATUSES = ["ok", "stale", "offline"] as const;

/** One page of the live view, chosen on the server (the browser never holds the whole fleet). */
export interface LiveQuery {
  /** meter id contains this (case-insensitive) */
  q: string;
  site: string;
  agent: string;
  /** the meter's model, from inventory (units matched by OpenBeken topic) */
  model: string;
  status: "" | MeterStatus;
  sort: LiveSort;
  dir: "asc" | "desc";
  offset: number;
  limit: number;
}

export const DEFAULT_LIVE_QUERY: LiveQuery = {
  q: "",
  site: "",
  agent: "",
  model: "",
  status: "",
  sort: "problems",
  dir: "desc",
  offset: 0,
  limit: 50,
};

/** The query from URL parameters; a clear message for a value that is not allowed. */
export function parseLiveQuery(
  params: URLSearchParams,
  defaults: LiveQuery = DEFAULT_LIVE_QUERY,
  maxLimit = 500,
): LiveQuery | { error: string } {
  const q = { ...defaults };
  for (const k of ["q", "site", "agent", "model"] as const) {
    const v = params.get(k);
    if (v !== null) {
      if (v.length > 80) return { error: `${k}: at most 80 characters` };
      q[k] = v;
    }
  }
  const status = params.get("status");
  if (status !== null && status !== "") {
    if (!(LIVE_STATUSES as readonly string[]).includes(status)) {
      return { error: `status: one of ${LIVE_STATUSES.join(", ")}` };
    }
    q.status = status as MeterStatus;
  }
  const sort = params.get("sort");
  if (sort !== null) {
    if (!(LIVE_SORTS as readonly string[]).includes(sort)) return { error: `sort: one of ${LIVE_SORTS.join(", ")}` };
    q.sort = sort as LiveSort;
  }
  const dir = params.get("dir");
  if (dir !== null) {
    if (dir !== "asc" && dir !== "desc") return { error: "dir: asc or desc" };
    q.dir = dir;
  }
  for (const [k, max] of [["offset", 1e9], ["limit", maxLimit]] as const) {
    const v = params.get(k);
    if (v === null) continue;
    if (!/^\d{1,10}$/.test(v) || Number(v) > max || (k === "limit" && Number(v) < 1)) {
      return { error: `${k}: a whole number${k === "limit" ? ` from 1 to ${max}` : ""}` };
    }
    q[k] = Number(v);
  }
  return q;
}

/** URL parameters for a query (only what differs from the defaults). */
export function liveQueryParams(q: LiveQuery, defaults: LiveQuery = DEFAULT_LIVE_QUERY): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of Object.keys(defaults) as (keyof LiveQuery)[]) {
    if (q[k] !== defaults[k]) p.set(k, String(q[k]));
  }
  return p;
}

/**
 * One meter on the wire, as an array (no field names per row):
 * [deviceId, agentId, site, status, powerW, voltageV, currentA, energyWh, powerFactor, readingTs, lastSeen, phases,
 *  model]
 */
export type LiveRow = [
  string,
  string,
  string | null,
  MeterStatus,
  number,
  number,
  number,
  number,
  number | null,
  number,
  number,
  number,
  string | null,
];

export interface SiteTotal {
  site: string | null;
  meters: number;
  powerW: number;
  /** stale or offline */
  problems: number;
}

export interface LiveTotals {
  at: number;
  /** meters that ever reported */
  total: number;
  /** meters that match the query's filters */
  matched: number;
  fleetPowerW: number;
  counts: Record<MeterStatus, number>;
  sites: SiteTotal[];
  /** models of the fleet's meters (for the model filter) */
  models: string[];
  /** readings refused because another agent owns the meter id they name */
  refusedReadings: number;
  /** how many (meter, sender) pairs were refused, and the most recent few */
  refusedMeterCount: number;
  refusedMeters: RefusedMeter[];
}

/** Readings one sender sent for a meter id another source owns: how many, the last when, and who owns it. */
export interface RefusedMeter {
  deviceId: string;
  /** the agent id (or "openbeken") whose readings were refused */
  source: string;
  /** the agent (or "openbeken") that owns the id: the first to report it */
  owner: string;
  readings: number;
  lastAt: number;
}

export interface LivePage extends LiveTotals {
  query: LiveQuery;
  rows: LiveRow[];
}

/** What changed since the last page sent: totals, the rows whose values changed, and the order if it changed. */
export interface LiveDelta extends LiveTotals {
  rows: LiveRow[];
  order?: string[];
}

const rowEqual = (a: LiveRow, b: LiveRow) => a.every((v, i) => v === b[i]);

/** The delta that turns `prev` into `next` (same query). */
export function liveDelta(prev: LivePage, next: LivePage): LiveDelta {
  const before = new Map(prev.rows.map((r) => [r[0], r]));
  const rows = next.rows.filter((r) => {
    const b = before.get(r[0]);
    return !b || !rowEqual(b, r);
  });
  const sameOrder = prev.rows.length === next.rows.length && prev.rows.every((r, i) => r[0] === next.rows[i][0]);
  const { query: _q, rows: _r, ...totals } = next;
  return sameOrder ? { ...totals, rows } : { ...totals, rows, order: next.rows.map((r) => r[0]) };
}

/** Apply a delta to the page it was computed against. */
export function applyLiveDelta(page: LivePage, d: LiveDelta): LivePage {
  const byId = new Map(page.rows.map((r) => [r[0], r]));
  for (const r of d.rows) byId.set(r[0], r);
  const order = d.order ?? page.rows.map((r) => r[0]);
  const { rows: _r, order: _o, ...totals } = d;
  return { ...page, ...totals, rows: order.map((id) => byId.get(id)).filter((r): r is LiveRow => r !== undefined) };
}
