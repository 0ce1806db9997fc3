/**
 * The live view: every meter's latest committed reading, read from KV once a
 * second while anyone watches (so any server instance serves any browser),
 * cut into the pages browsers asked for (filter, sort, offset on the server;
 * fleet and site totals over the whole fleet). Each distinct page is
 * serialised once per tick for all its watchers, as a delta against what it
 * sent the tick before.
 *
 * A watcher that does not keep up holds no backlog: while its stream is full
 * it is marked behind and skips deltas; once it drains it gets one fresh
 * snapshot. Behind for longer than `maxBehindMs`, it is disconnected (the
 * browser's EventSource reconnects and starts over with a snapshot).
 */
import { listEnergyStates } from "../energy/store.ts";
import { listUnits } from "../inventory/units.ts";
import { listLatest, listRefusedMeters, readRejections, REFUSED_NOT_OWNER } from "./store.ts";
import {
  type LiveDelta,
  liveDelta,
  type LivePage,
  type LiveQuery,
  type LiveRow,
  type MeterLatest,
  type MeterStatus,
  meterStatus,
  type RefusedMeter,
  type SiteTotal,
} from "../../shared/fleet.ts";
import type { Logger } from "../../shared/log.ts";

export interface FleetMeter extends MeterLatest {
  status: MeterStatus;
  site: string | null;
  model: string | null;
}

export interface FleetState {
  at: number;
  meters: FleetMeter[];
  refusedReadings: number;
  refused: { meters: number; items: RefusedMeter[] };
}

/** Refused meters shown with the fleet's totals: the most recent few (the meter page and the API have them all). */
const REFUSED_SHOWN = 5;

const STATUS_RANK: Record<MeterStatus, number> = { offline: 2, stale: 1, ok: 0 };

/**
 * What the fleet knows of each meter besides its readings: the site its
 * energy is attributed to, and its model and site in inventory (units are
 * matched by OpenBeken topic). Re-read every `ttlMs`, not every second.
 */
export class MeterFacts {
  #facts = new Map<string, { site: string | null; model: string | null }>();
  #readAt = -Infinity;
  #refused: { at: number; value: Promise<{ meters: number; items: RefusedMeter[] }> } | null = null;
  constructor(private kv: Deno.Kv, private ttlMs = 30_000, private refusedTtlMs = 5_000) {}

  /** The meters whose readings were refused lately (re-read every few seconds: a misconfigured bench adds many). */
  refused(now: number): Promise<{ meters: number; items: RefusedMeter[] }> {
    if (!this.#refused || now - this.#refused.at >= this.refusedTtlMs || now < this.#refused.at) {
      const value = listRefusedMeters(this.kv, { limit: REFUSED_SHOWN });
      const entry = { at: now, value };
      this.#refused = entry;
      value.catch(() => {
        if (this.#refused === entry) this.#refused = null;
      });
    }
    return this.#refused.value;
  }

  async get(now: number): Promise<Map<string, { site: string | null; model: string | null }>> {
    if (now - this.#readAt > this.ttlMs) {
      const facts = new Map<string, { site: string | null; model: string | null }>();
      for (const u of await listUnits(this.kv)) {
        if (u.topic) facts.set(u.topic, { site: u.site, model: u.model });
      }
      for (const st of await listEnergyStates(this.kv)) {
        const f = facts.get(st.deviceId);
        facts.set(st.deviceId, { site: st.site ?? f?.site ?? null, model: f?.model ?? null });
      }
      this.#facts = facts;
      this.#readAt = now;
    }
    return this.#facts;
  }
}

export async function readFleet(kv: Deno.Kv, facts: MeterFacts, now: number): Promise<FleetState> {
  const known = await facts.get(now);
  const meters = (await listLatest(kv)).map((m): FleetMeter => {
    const f = known.get(m.deviceId);
    // extended in place, not spread into a copy: ten thousand of these a second
    const fm = m as FleetMeter;
    fm.status = meterStatus(m, now);
    fm.site = f?.site ?? null;
    fm.model = f?.model ?? null;
    return fm;
  });
  const refusedReadings = (await readRejections(kv))[REFUSED_NOT_OWNER] ?? 0;
  return { at: now, meters, refusedReadings, refused: await facts.refused(now) };
}

function compare(sort: LiveQuery["sort"]): (a: FleetMeter, b: FleetMeter) => number {
  switch (sort) {
    case "problems":
      return (a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status] || a.reading.power - b.reading.power;
    case "power":
      return (a, b) => a.reading.power - b.reading.power;
    case "energy":
      return (a, b) => a.reading.energyWh - b.reading.energyWh;
    case "seen":
      return (a, b) => a.committedAt - b.committedAt;
    case "id":
      return () => 0;
  }
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export function toRow(m: FleetMeter): LiveRow {
  const r = m.reading;
  return [
    m.deviceId,
    m.agentId,
    m.site,
    m.status,
    round(r.power, 1),
    round(r.voltage, 1),
    round(r.current, 3),
    round(r.energyWh, 1),
    r.powerFactor === undefined ? null : round(r.powerFactor, 2),
    r.ts,
    m.committedAt,
    r.phases?.length ?? 1,
    m.model,
  ];
}

/** Meters matching the query's filters, in no particular order. */
function filterMeters(state: FleetState, q: LiveQuery): FleetMeter[] {
  const needle = q.q.toLowerCase();
  if (!needle && !q.site && !q.agent && !q.model && !q.status) return state.meters.slice();
  return state.meters.filter((m) =>
    (!needle || m.deviceId.toLowerCase().includes(needle)) &&
    (!q.site || m.site === q.site) &&
    (!q.agent || m.agentId === q.agent) &&
    (!q.model || m.model === q.model) &&
    (!q.status || m.status === q.status)
  );
}

const siteOrder = new Intl.Collator().compare;

/** The query's order: grouped by site (named sites first), each group in the query's sort, then by id. */
function meterOrder(q: LiveQuery): (a: FleetMeter, b: FleetMeter) => number {
  const cmp = compare(q.sort);
  const sign = q.dir === "desc" ? -1 : 1;
  const idSign = q.sort === "id" ? sign : 1;
  return (a, b) =>
    (a.site === null ? 1 : 0) - (b.site === null ? 1 : 0) ||
    (a.site === b.site ? 0 : siteOrder(a.site ?? "", b.site ?? "")) ||
    sign * cmp(a, b) ||
    idSign * (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0);
}

/** Meters matching the query's filters, in the query's order. */
export function selectMeters(state: FleetState, q: LiveQuery): FleetMeter[] {
  return filterMeters(state, q).sort(meterOrder(q));
}

/**
 * The first `k` of `items` in `order`, without sorting them all: a page of 50 out of 10,000 meters costs about one
 * comparison per meter instead of fourteen.
 */
export function firstInOrder<T>(items: T[], k: number, order: (a: T, b: T) => number): T[] {
  if (k >= items.length / 8) return items.slice().sort(order).slice(0, k);
  const best: T[] = [];
  for (const it of items) {
    if (best.length === k && order(it, best[k - 1]) >= 0) continue;
    let lo = 0, hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(best[mid], it) <= 0) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, it);
    if (best.length > k) best.pop();
  }
  return best;
}

/** Fleet and per-site totals over every meter (filters do not change them). */
export function fleetTotals(state: FleetState) {
  const counts: Record<MeterStatus, number> = { ok: 0, stale: 0, offline: 0 };
  const bySite = new Map<string | null, SiteTotal>();
  let fleetPowerW = 0;
  const models = new Set<string>();
  for (const m of state.meters) {
    counts[m.status]++;
    if (m.model) models.add(m.model);
    let s = bySite.get(m.site);
    if (!s) bySite.set(m.site, s = { site: m.site, meters: 0, powerW: 0, problems: 0 });
    s.meters++;
    if (m.status !== "offline") {
      s.powerW += m.reading.power;
      fleetPowerW += m.reading.power;
    }
    if (m.status !== "ok") s.problems++;
  }
  const sites = [...bySite.values()]
    .map((s) => ({ ...s, powerW: round(s.powerW, 1) }))
    .sort((a, b) => (a.site === null ? 1 : 0) - (b.site === null ? 1 : 0) || siteOrder(a.site ?? "", b.site ?? ""));
  return {
    total: state.meters.length,
    fleetPowerW: round(fleetPowerW, 1),
    counts,
    sites,
    models: [...models].sort(),
    refusedReadings: state.refusedReadings,
    refusedMeterCount: state.refused.meters,
    refusedMeters: state.refused.items,
  };
}

export function pageOf(state: FleetState, q: LiveQuery, totals = fleetTotals(state)): LivePage {
  const matched = filterMeters(state, q);
  return {
    at: state.at,
    ...totals,
    matched: matched.length,
    query: q,
    rows: firstInOrder(matched, q.offset + q.limit, meterOrder(q)).slice(q.offset).map(toRow),
  };
}

/** The live query's identity: watchers of the same page share one serialisation. */
export const viewKey = (q: LiveQuery) => JSON.stringify(q);

const encoder = new TextEncoder();
const sseEvent = (event: string, data: unknown) => encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

interface Watcher {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** since when its stream has been full (null: keeping up) */
  behindSince: number | null;
  /** it skipped a delta: its next message is a snapshot */
  missed: boolean;
}

interface View {
  query: LiveQuery;
  watchers: Set<Watcher>;
  last: LivePage | null;
}

export interface LiveFeedStats {
  watchers: number;
  views: number;
  /** bytes waiting in watchers' streams, summed, and the largest one */
  queuedBytes: number;
  maxQueuedBytes: number;
  /** watchers that skipped deltas because they did not read, and watchers disconnected for it */
  skipped: number;
  dropped: number;
}

export interface LiveFeedOptions {
  intervalMs?: number;
  /** a watcher's stream may hold this much before it counts as behind */
  highWaterBytes?: number;
  /** a watcher behind this long is disconnected */
  maxBehindMs?: number;
  log?: Logger;
}

export class LiveFeed {
  #views = new Map<string, View>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #facts: MeterFacts;
  #ticking = false;
  #state: { at: number; promise: Promise<FleetState> } | null = null;
  /** pages cut from one fleet read, by query: browsers opening the same page share one sort */
  #pages = new WeakMap<FleetState, Map<string, LivePage>>();
  /** a page was just served: keep reading the fleet until then, so its stream starts from a fresh read */
  #warmUntil = 0;
  #skipped = 0;
  #dropped = 0;
  readonly intervalMs: number;
  readonly highWaterBytes: number;
  readonly maxBehindMs: number;

  constructor(private kv: Deno.Kv, private o: LiveFeedOptions = {}) {
    this.intervalMs = o.intervalMs ?? 1000;
    this.highWaterBytes = o.highWaterBytes ?? 64 * 1024;
    this.maxBehindMs = o.maxBehindMs ?? 30_000;
    this.#facts = new MeterFacts(kv);
  }

  /**
   * An SSE body for one watcher of `query`: a snapshot of its page now, then
   * a delta every interval. Bounded: the stream holds at most about
   * `highWaterBytes` plus one message.
   */
  stream(query: LiveQuery, first: LivePage): ReadableStream<Uint8Array> {
    const key = viewKey(query);
    let watcher: Watcher;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        watcher = { controller, behindSince: null, missed: false };
        let view = this.#views.get(key);
        if (!view) this.#views.set(key, view = { query, watchers: new Set(), last: null });
        view.watchers.add(watcher);
        controller.enqueue(encoder.encode(`retry: 2000\n\n`));
        controller.enqueue(sseEvent("snapshot", first));
        this.#start();
      },
      cancel: () => this.#remove(key, watcher),
    }, new ByteLengthQueuingStrategy({ highWaterMark: this.highWaterBytes }));
  }

  /**
   * The fleet as of at most one interval ago: what the last tick read, or one
   * read shared by the requests that ask at once (a page and its stream
   * opening right after it do not read 10,000 meters twice).
   */
  fleet(now = Date.now()): Promise<FleetState> {
    // whoever asks is about to watch (a page opens its stream next): tick for a while even before they do
    this.#warmUntil = Math.max(this.#warmUntil, now + 10_000);
    this.#start();
    if (this.#state && now - this.#state.at >= 0 && now - this.#state.at < this.intervalMs) return this.#state.promise;
    const promise = readFleet(this.kv, this.#facts, now);
    const entry = { at: now, promise };
    this.#state = entry;
    promise.catch(() => {
      if (this.#state === entry) this.#state = null;
    });
    return promise;
  }

  /** The page of `q` in `state`, cut once per read and query. */
  page(state: FleetState, q: LiveQuery): LivePage {
    let pages = this.#pages.get(state);
    if (!pages) this.#pages.set(state, pages = new Map());
    const key = viewKey(q);
    let page = pages.get(key);
    if (!page) {
      if (pages.size > 1000) pages.clear();
      pages.set(key, page = pageOf(state, q));
    }
    return page;
  }

  stats(): LiveFeedStats {
    let watchers = 0, queuedBytes = 0, maxQueuedBytes = 0;
    for (const v of this.#views.values()) {
      for (const w of v.watchers) {
        watchers++;
        const queued = Math.max(0, this.highWaterBytes - (w.controller.desiredSize ?? 0));
        queuedBytes += queued;
        maxQueuedBytes = Math.max(maxQueuedBytes, queued);
      }
    }
    return {
      watchers,
      views: this.#views.size,
      queuedBytes,
      maxQueuedBytes,
      skipped: this.#skipped,
      dropped: this.#dropped,
    };
  }

  stop() {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const [key, v] of this.#views) {
      for (const w of v.watchers) {
        try {
          w.controller.close();
        } catch { /* already closed */ }
      }
      this.#views.delete(key);
    }
  }

  #pause() {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #start() {
    if (this.#timer === null) this.#timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  #remove(key: string, w: Watcher) {
    const view = this.#views.get(key);
    if (!view) return;
    view.watchers.delete(w);
    if (view.watchers.size === 0) this.#views.delete(key);
    if (this.#views.size === 0 && Date.now() > this.#warmUntil) this.#pause();
  }

  /** One round: read the fleet once, then one serialised delta per page being watched. */
  async tick(now = Date.now()) {
    if (this.#views.size === 0 && now > this.#warmUntil) return this.#pause();
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const state = await readFleet(this.kv, this.#facts, now);
      this.#state = { at: now, promise: Promise.resolve(state) };
      for (const [key, view] of this.#views) {
        const page = this.page(state, view.query);
        const delta: LiveDelta | null = view.last ? liveDelta(view.last, page) : null;
        view.last = page;
        let deltaBytes: Uint8Array | null = null, snapshotBytes: Uint8Array | null = null;
        for (const w of [...view.watchers]) {
          const full = (w.controller.desiredSize ?? 0) <= 0;
          if (full) {
            if (w.behindSince === null) w.behindSince = now;
            w.missed = true;
            this.#skipped++;
            if (now - w.behindSince >= this.maxBehindMs) {
              this.#dropped++;
              this.o.log?.info("live watcher dropped: not reading", { behindMs: now - w.behindSince });
              try {
                w.controller.error(new Error(`live watcher dropped: it read nothing for ${now - w.behindSince} ms`));
              } catch { /* already closed */ }
              this.#remove(key, w);
            }
            continue;
          }
          w.behindSince = null;
          try {
            if (w.missed || !delta) {
              w.controller.enqueue(snapshotBytes ??= sseEvent("snapshot", page));
              w.missed = false;
            } else {
              w.controller.enqueue(deltaBytes ??= sseEvent("delta", delta));
            }
          } catch {
            this.#remove(key, w); // the stream closed under us
          }
        }
      }
    } catch (e) {
      // KV closed during shutdown, or briefly unavailable: the next tick tries again
      this.o.log?.debug("live tick failed", { err: e });
    } finally {
      this.#ticking = false;
    }
  }
}

const perKv = new WeakMap<Deno.Kv, { feed: LiveFeed }>();

/** The one live feed of a server (pages, the API and /api/health share them). */
export function liveOf(kv: Deno.Kv, options: LiveFeedOptions = {}): { feed: LiveFeed } {
  let l = perKv.get(kv);
  if (!l) perKv.set(kv, l = { feed: new LiveFeed(kv, options) });
  return l;
}
