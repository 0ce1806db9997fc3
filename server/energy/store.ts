/**
 * Energy domain over Deno KV: per-meter accounting state, and rollups of
 * consumption per minute, hour, day and month for each unit, each site and
 * the whole fleet — kept forever. Rollups are KV sums (Deno.KvU64, mWh), so
 * concurrent commits from two server instances add up instead of conflicting;
 * the accounting state they depend on is guarded by a versionstamp check.
 *
 * Keys (this module owns them):
 *   ["energy_state", deviceId]                           -> StoredEnergyState
 *   ["energy", "unit", deviceId, level, bucketStartMs]   -> KvU64 mWh
 *   ["energy", "site", site, level, bucketStartMs]       -> KvU64 mWh
 *   ["energy", "fleet", "all", level, bucketStartMs]     -> KvU64 mWh
 *   ["energy_site", deviceId]                            -> site   (manual mapping; inventory wins when it has one)
 *   ["energy_pack", scope, id, monthStartMs]             -> HourPack (a closed month's hours in one value; a cache)
 *
 * A range query (one unit, one level, [from, to)) is one range scan.
 */
import type { EnergyState } from "./accounting.ts";
import { bucketStart, type Level, LEVELS, nextBucket } from "./buckets.ts";
import { UTC, type Zone } from "../../shared/zone.ts";
import { deleteRange, getManyChunked } from "../kv/bulk.ts";

export type Scope = "unit" | "site" | "fleet";

export interface StoredEnergyState extends EnergyState {
  /** site its energy is attributed to (resolved at accounting time) */
  site: string | null;
}

export const stateKey = (deviceId: string): Deno.KvKey => ["energy_state", deviceId];
export const rollupKey = (
  scope: Scope,
  id: string,
  level: Level,
  start: number,
): Deno.KvKey => ["energy", scope, id, level, start];
export const FLEET_ID = "all";

/** Site names as inventory allows them (free text up to 80), minus what breaks a URL path or a log line. */
export function isSiteName(s: string): boolean {
  return s.length >= 1 && s.length <= 80 && !s.includes("/") && ![...s].some((ch) => ch.charCodeAt(0) < 32);
}

export async function loadEnergyStates(
  kv: Deno.Kv,
  ids: string[],
): Promise<Map<string, Deno.KvEntryMaybe<StoredEnergyState>>> {
  const entries = await getManyChunked<StoredEnergyState>(kv, ids.map(stateKey));
  return new Map(ids.map((id, i) => [id, entries[i]]));
}

/**
 * Add one meter's accounting step to an atomic op: the new state (checked
 * against the versionstamp it was read at) and the rollup sums. Returns the
 * number of mutations added.
 */
export function writeEnergy(
  op: Deno.AtomicOperation,
  next: StoredEnergyState,
  versionstamp: string | null,
  rollups: Map<Level, Map<number, number>>,
  shared: SharedRollupSums = new SharedRollupSums(),
): number {
  op.check({ key: stateKey(next.deviceId), versionstamp });
  op.set(stateKey(next.deviceId), next);
  let n = 1;
  for (const [level, buckets] of rollups) {
    for (const [start, mwh] of buckets) {
      if (mwh <= 0) continue;
      op.sum(rollupKey("unit", next.deviceId, level, start), BigInt(mwh));
      n++;
      shared.add(rollupKey("fleet", FLEET_ID, level, start), mwh);
      if (next.site) shared.add(rollupKey("site", next.site, level, start), mwh);
    }
  }
  return n;
}

/**
 * Fleet and site rollups that many meters in one atomic op add to: summed in
 * memory and written as one mutation per bucket (`flushInto`), instead of one
 * per meter — at 1 Hz most meters of a commit share the same fleet buckets.
 */
export class SharedRollupSums {
  #sums = new Map<string, { key: Deno.KvKey; mwh: number }>();
  add(key: Deno.KvKey, mwh: number) {
    const id = JSON.stringify(key);
    const cur = this.#sums.get(id);
    if (cur) cur.mwh += mwh;
    else this.#sums.set(id, { key, mwh });
  }
  /** Add the summed mutations to op; returns how many. */
  flushInto(op: Deno.AtomicOperation): number {
    for (const { key, mwh } of this.#sums.values()) op.sum(key, BigInt(mwh));
    const n = this.#sums.size;
    this.#sums.clear();
    return n;
  }
}

export interface EnergyPoint {
  /** bucket start, ms */
  ts: number;
  wh: number;
}

/** Energy per bucket in [from, to), oldest first: one range scan. Empty buckets are absent. */
export async function energySeries(
  kv: Deno.Kv,
  scope: Scope,
  id: string,
  level: Level,
  from: number,
  to: number,
  opts: { zone?: Zone; now?: number } = {},
): Promise<EnergyPoint[]> {
  if (level === "hour" && to - from > 40 * 86_400_000) {
    return await hourSeriesPacked(kv, scope, id, from, to, opts.zone ?? UTC, opts.now ?? Date.now());
  }
  return await scan(kv, scope, id, level, from, to);
}

async function scan(
  kv: Deno.Kv,
  scope: Scope,
  id: string,
  level: Level,
  from: number,
  to: number,
): Promise<EnergyPoint[]> {
  const out: EnergyPoint[] = [];
  if (to <= from) return out;
  const iter = kv.list<Deno.KvU64>({ start: rollupKey(scope, id, level, from), end: rollupKey(scope, id, level, to) }, {
    batchSize: 1000,
  });
  for await (const e of iter) out.push({ ts: e.key[4] as number, wh: Number(e.value.value) / 1000 });
  return out;
}

/**
 * A closed month's hourly energy packed in one value, so a year of hours is
 * 12 reads instead of 8760. A cache: valid while its total equals the month's
 * rollup (a late sample changes the rollup, and the pack is rebuilt).
 */
interface HourPack {
  totalMwh: number;
  /** Float64 mWh per hour from the month start, as bytes */
  hours: Uint8Array;
}

const packKey = (scope: Scope, id: string, month: number): Deno.KvKey => ["energy_pack", scope, id, month];
const HOUR_MS = 3_600_000;

async function hourSeriesPacked(
  kv: Deno.Kv,
  scope: Scope,
  id: string,
  from: number,
  to: number,
  tz: Zone,
  now: number,
): Promise<EnergyPoint[]> {
  const out: EnergyPoint[] = [];
  await visitHours(kv, scope, id, from, to, tz, now, (ts, mwh) => void out.push({ ts, wh: mwh / 1000 }));
  return out;
}

/**
 * Hourly energy of one meter/site as a dense array (mWh per hour from `from`,
 * which must be on an hour): no object per hour, for wide queries (a year of
 * 100 units) and exports.
 */
export async function hourlyDense(
  kv: Deno.Kv,
  scope: Scope,
  id: string,
  from: number,
  to: number,
  opts: { zone?: Zone; now?: number } = {},
): Promise<Float64Array> {
  const out = new Float64Array(Math.ceil((to - from) / HOUR_MS));
  await visitHours(kv, scope, id, from, to, opts.zone ?? UTC, opts.now ?? Date.now(), (ts, mwh) => {
    out[Math.floor((ts - from) / HOUR_MS)] += mwh;
  }, (base, hours) => {
    // a whole packed month: one copy, not a call per hour
    const at = (base - from) / HOUR_MS;
    if (Number.isInteger(at) && at >= 0 && at + hours.length <= out.length) out.set(hours, at);
    else {for (let h = 0; h < hours.length; h++) {
        if (hours[h] > 0) out[Math.floor((base + h * HOUR_MS - from) / HOUR_MS)] += hours[h];
      }}
  });
  return out;
}

async function visitHours(
  kv: Deno.Kv,
  scope: Scope,
  id: string,
  from: number,
  to: number,
  tz: Zone,
  now: number,
  visit: (ts: number, mwh: number) => void,
  visitPack?: (base: number, hours: Float64Array) => void,
): Promise<void> {
  const scanInto = async (a: number, b: number) => {
    for (const p of await scan(kv, scope, id, "hour", a, b)) visit(p.ts, Math.round(p.wh * 1000));
  };
  let m = bucketStart("month", from, tz);
  if (m < from) m = nextBucket("month", m, tz);
  const months: number[] = [];
  // only months that ended over an hour ago are packed: later samples for them are rare, and detected
  for (let x = m; nextBucket("month", x, tz) <= Math.min(to, now - HOUR_MS); x = nextBucket("month", x, tz)) {
    months.push(x);
  }
  if (months.length === 0) return await scanInto(from, to);
  await scanInto(from, months[0]);
  // two range reads for all the months: their packs, and their month totals (a pack is valid while they agree)
  const last = nextBucket("month", months[months.length - 1], tz);
  const packs = new Map<number, HourPack>();
  for await (const e of kv.list<HourPack>({ start: packKey(scope, id, months[0]), end: packKey(scope, id, last) })) {
    packs.set(e.key[3] as number, e.value);
  }
  const totals = new Map<number, number>();
  const monthTotals = kv.list<Deno.KvU64>({
    start: rollupKey(scope, id, "month", months[0]),
    end: rollupKey(scope, id, "month", last),
  });
  for await (const e of monthTotals) totals.set(e.key[4] as number, Number(e.value.value));
  {
    for (const mo of months) {
      const end = nextBucket("month", mo, tz);
      const pack = packs.get(mo) ?? null;
      const total = totals.get(mo) ?? 0;
      // hour buckets are UTC hours: in a half-hour zone (India) the month starts between two of them
      const base = Math.ceil(mo / HOUR_MS) * HOUR_MS;
      if (pack && pack.totalMwh === total) {
        const b = pack.hours;
        const hours = b.byteOffset % 8 === 0
          ? new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8)
          : new Float64Array(b.slice().buffer);
        if (visitPack) visitPack(base, hours);
        else for (let h = 0; h < hours.length; h++) if (hours[h] > 0) visit(base + h * HOUR_MS, hours[h]);
        continue;
      }
      const rows = await scan(kv, scope, id, "hour", mo, end);
      for (const r of rows) visit(r.ts, Math.round(r.wh * 1000));
      const sum = rows.reduce((s, r) => s + Math.round(r.wh * 1000), 0);
      if (sum === total) {
        const hours = new Float64Array(Math.ceil((end - base) / HOUR_MS));
        for (const r of rows) hours[(r.ts - base) / HOUR_MS] = Math.round(r.wh * 1000);
        await kv.set(packKey(scope, id, mo), { totalMwh: sum, hours: new Uint8Array(hours.buffer) } satisfies HourPack);
      }
    }
  }
  await scanInto(nextBucket("month", months[months.length - 1], tz), to);
}

/**
 * Pack the hours of every closed month of the last year for these rollups
 * (a no-op for months already packed and unchanged), so that the first wide
 * query reads packs too. The server runs it at start and every hour, so a
 * month is packed within about two hours of closing.
 */
export async function packClosedMonths(
  kv: Deno.Kv,
  targets: { scope: Scope; id: string }[],
  zone: Zone,
  now: number,
): Promise<void> {
  const to = bucketStart("month", now, zone);
  const from = bucketStart("month", to - 366 * 86_400_000, zone);
  for (const t of targets) await hourlyDense(kv, t.scope, t.id, from, to, { zone, now });
}

/** Energy of single buckets (e.g. today and this month for many units). */
export async function energyAt(kv: Deno.Kv, keys: Deno.KvKey[]): Promise<number[]> {
  return (await getManyChunked<Deno.KvU64>(kv, keys)).map((e) => (e.value ? Number(e.value.value) / 1000 : 0));
}

/** Every meter with an accounting state (i.e. that ever produced a sample). */
export async function listEnergyStates(kv: Deno.Kv): Promise<StoredEnergyState[]> {
  const out: StoredEnergyState[] = [];
  for await (const e of kv.list<StoredEnergyState>({ prefix: ["energy_state"] })) out.push(e.value);
  return out;
}

/** Sites meters are attributed to now (a site a meter left keeps its rollups, but is listed only while it has members). */
export async function listSites(kv: Deno.Kv): Promise<string[]> {
  const sites = new Set<string>();
  for (const st of await listEnergyStates(kv)) if (st.site) sites.add(st.site);
  return [...sites].sort();
}

export async function setSiteMapping(kv: Deno.Kv, deviceId: string, site: string | null) {
  if (site === null) await kv.delete(["energy_site", deviceId]);
  else await kv.set(["energy_site", deviceId], site);
}

export async function getSiteMapping(kv: Deno.Kv, deviceId: string): Promise<string | null> {
  return (await kv.get<string>(["energy_site", deviceId])).value;
}

/** Optional retention for minute rollups (hours, days and months stay): deletes minutes before `before`. */
export async function pruneMinuteRollups(kv: Deno.Kv, before: number): Promise<number> {
  const series: [Scope, string][] = [["fleet", FLEET_ID]];
  for (const st of await listEnergyStates(kv)) series.push(["unit", st.deviceId]);
  for (const site of await listSites(kv)) series.push(["site", site]);
  let deleted = 0;
  for (const [scope, id] of series) {
    deleted += await deleteRange(kv, rollupKey(scope, id, "minute", 0), rollupKey(scope, id, "minute", before));
  }
  return deleted;
}

/**
 * Which zone the day and month rollups were bucketed in, and since when.
 * Rollups already stored keep the boundaries they were written with, so a
 * change of FLEET_TZ is remembered (and shown) rather than silently mixed.
 */
export interface EnergyZoneRecord {
  name: string;
  since: number;
  earlier: { name: string; until: number }[];
}

const ZONE_KEY: Deno.KvKey = ["energy_zone"];

/** Record the zone in use; returns the record and the zone it replaced, if it changed. */
export async function noteEnergyZone(
  kv: Deno.Kv,
  name: string,
  now: number,
): Promise<{ record: EnergyZoneRecord; changedFrom: string | null }> {
  for (;;) {
    const cur = await kv.get<EnergyZoneRecord>(ZONE_KEY);
    if (cur.value?.name === name) return { record: cur.value, changedFrom: null };
    const record: EnergyZoneRecord = cur.value
      ? { name, since: now, earlier: [...cur.value.earlier, { name: cur.value.name, until: now }].slice(-20) }
      : { name, since: now, earlier: [] };
    if ((await kv.atomic().check(cur).set(ZONE_KEY, record).commit()).ok) {
      return { record, changedFrom: cur.value?.name ?? null };
    }
  }
}

export async function getEnergyZone(kv: Deno.Kv): Promise<EnergyZoneRecord | null> {
  return (await kv.get<EnergyZoneRecord>(ZONE_KEY)).value;
}

export { LEVELS };
