/**
 * Meter history over Deno KV: each meter's readings in packed blocks, moved
 * there from the ingest log (server/meters/store.ts) by the compactor. A meter's
 * history query reads its blocks plus the log entries not compacted yet, so
 * a reading is in the history from the moment its batch is acknowledged.
 *
 * Keys (this module owns them):
 *   ["meter_history", deviceId, firstTs, blockId] -> Uint8Array  readings of one meter, ts within
 *                                                   [firstTs, firstTs + MAX_BLOCK_SPAN_MS), sorted
 *   ["history_sweep"]                             -> HistorySweep  the compactor's last sweep (for /api/health)
 *   ["ingest_log_bad", ...logKey]                 -> Uint8Array  a log entry that did not decode, set aside
 *                                                   (kept for inspection) so it cannot stall compaction
 *
 * Compaction writes every block before it deletes the log entries they came
 * from, and block ids are unique, so a compactor killed midway leaves at most
 * duplicate blocks; reads merge points by timestamp, so nothing shows twice.
 * (Up to this change a point was one key, ["meter_history", id, ts]; such
 * points are still read and pruned.)
 */
import type { Reading } from "../../shared/telemetry.ts";
import { type BulkWrite, commitInChunks } from "../kv/bulk.ts";
import { getMeterSource, listMeterIds, packBlocks, unpackReadings } from "../meters/store.ts";

export type HistoryPoint = Omit<Reading, "deviceId">;

/** A block spans at most this long, so a range query knows how far back to start. */
export const MAX_BLOCK_SPAN_MS = 10 * 60_000;
type Key = Deno.KvKey;

export interface HistorySweep {
  instance: string;
  startedAt: number;
  ms: number;
  entries: number;
  readings: number;
  blocks: number;
}

export async function recordSweep(kv: Deno.Kv, sweep: HistorySweep): Promise<void> {
  await kv.set(["history_sweep"], sweep);
}

/** The compactor's last sweep that moved anything; null before the first. */
export async function lastSweep(kv: Deno.Kv): Promise<HistorySweep | null> {
  return (await kv.get<HistorySweep>(["history_sweep"])).value;
}

export interface CompactionRound {
  /** log entries moved (and deleted) */
  entries: number;
  readings: number;
  blocks: number;
  /** log entries that did not decode: moved to ["ingest_log_bad", …] instead */
  quarantined: number;
  /** where the next round goes on (the log is ordered by source, then sequence) */
  cursor: string | undefined;
}

/** A log entry's readings, or null when its bytes are not a block of readings (a damaged KV value). */
export function logReadings(value: unknown): Reading[] | null {
  if (!(value instanceof Uint8Array)) return null;
  try {
    const readings = unpackReadings(value);
    return Array.isArray(readings) && readings.every((r) => typeof r?.deviceId === "string" && typeof r.ts === "number")
      ? readings
      : null;
  } catch {
    return null;
  }
}

/**
 * Move up to `maxEntries` log entries into per-meter blocks, starting after
 * `cursor` (a previous round's). Fewer entries than `maxEntries` means the log
 * is drained up to its end. Going on from the cursor, not from the start,
 * keeps a sweep's rounds on whole stretches of one source's log (many points
 * per block) instead of chasing the newest second of every source.
 */
export async function compactLog(kv: Deno.Kv, maxEntries = 1000, cursor?: string): Promise<CompactionRound> {
  const keys: Key[] = [];
  const bad: BulkWrite[] = [];
  const byMeter = new Map<string, Reading[]>();
  let readings = 0;
  const iter = kv.list<Uint8Array>({ prefix: ["ingest_log"] }, { limit: maxEntries, batchSize: 200, cursor });
  for await (const e of iter) {
    keys.push(e.key);
    const entry = logReadings(e.value);
    if (!entry) {
      bad.push({
        key: ["ingest_log_bad", ...e.key.slice(1)],
        value: e.value instanceof Uint8Array ? e.value : new Uint8Array(),
      });
      continue;
    }
    for (const r of entry) {
      let list = byMeter.get(r.deviceId);
      if (!list) byMeter.set(r.deviceId, list = []);
      list.push(r);
      readings++;
    }
  }
  if (keys.length === 0) return { entries: 0, readings: 0, blocks: 0, quarantined: 0, cursor: undefined };
  const blockId = `${Date.now().toString(36)}.${crypto.randomUUID().slice(0, 8)}`;
  let blocks = 0;
  let writes: BulkWrite[] = [];
  for (const [deviceId, list] of byMeter) {
    list.sort((a, b) => a.ts - b.ts);
    let start = 0;
    for (let i = 1; i <= list.length; i++) {
      if (i < list.length && list[i].ts - list[start].ts < MAX_BLOCK_SPAN_MS) continue;
      const points = list.slice(start, i).map(({ deviceId: _, ...p }) => p as Reading);
      for (const b of packBlocks(points)) {
        writes.push({ key: ["meter_history", deviceId, b.readings[0].ts, blockId], value: b.packed });
      }
      start = i;
    }
    // commit as we go: bounded memory, and the event loop (ingest acks) runs between commits
    if (writes.length >= 250) {
      blocks += writes.length;
      await commitInChunks(kv, writes);
      writes = [];
    }
  }
  blocks += writes.length;
  await commitInChunks(kv, writes);
  await commitInChunks(kv, bad);
  // only now: a log entry disappears once its readings are in blocks (or its bytes are set aside)
  await commitInChunks(kv, keys.map((key) => ({ key })));
  return { entries: keys.length, readings, blocks, quarantined: bad.length, cursor: iter.cursor };
}

function* pointsOf(value: unknown, ts: unknown): Iterable<HistoryPoint> {
  if (value instanceof Uint8Array) yield* unpackReadings(value) as unknown as HistoryPoint[];
  else if (value && typeof value === "object" && typeof ts === "number") yield value as HistoryPoint; // a pre-block point
}

/** History of one meter in [from, to), oldest first, each timestamp once. */
export async function listHistory(
  kv: Deno.Kv,
  deviceId: string,
  from: number,
  to: number,
  limit = 20_000,
): Promise<HistoryPoint[]> {
  const byTs = new Map<number, HistoryPoint>();
  const take = (p: HistoryPoint) => {
    if (p.ts >= from && p.ts < to) byTs.set(p.ts, p);
  };
  // the log first, then the blocks: an entry compacted in between is then found in its block
  const at = await getMeterSource(kv, deviceId);
  if (at) {
    for await (const e of kv.list<Uint8Array>({ prefix: ["ingest_log", at.source] }, { batchSize: 200 })) {
      for (const r of logReadings(e.value) ?? []) { // a damaged entry: the compactor sets it aside
        if (r.deviceId === deviceId) {
          const { deviceId: _, ...p } = r;
          take(p);
        }
      }
    }
  }
  const iter = kv.list({
    start: ["meter_history", deviceId, from - MAX_BLOCK_SPAN_MS],
    end: ["meter_history", deviceId, to],
  }, { batchSize: 200 });
  for await (const e of iter) for (const p of pointsOf(e.value, e.key[2])) take(p);
  return [...byTs.values()].sort((a, b) => a.ts - b.ts).slice(0, limit);
}

/** Every history point of a meter (tests and exports). */
export async function countHistory(kv: Deno.Kv, deviceId: string): Promise<number> {
  return (await listHistory(kv, deviceId, 0, Number.MAX_SAFE_INTEGER, Infinity)).length;
}

/**
 * Raw readings retention: delete history blocks whose every point is older
 * than `before`, for every meter (a block straddling `before` stays whole).
 * Returns the number of points deleted.
 */
export async function pruneHistory(kv: Deno.Kv, before: number): Promise<number> {
  const ids = new Set(await listMeterIds(kv));
  for await (const e of kv.list({ prefix: ["meters"] })) ids.add(e.key[1] as string); // meters from before blocks
  let deleted = 0;
  for (const id of ids) {
    const doomed: BulkWrite[] = [];
    for await (
      const e of kv.list({ start: ["meter_history", id, 0], end: ["meter_history", id, before] }, { batchSize: 500 })
    ) {
      const points = [...pointsOf(e.value, e.key[2])];
      if (points.every((p) => p.ts < before)) {
        doomed.push({ key: e.key });
        deleted += points.length;
      }
    }
    await commitInChunks(kv, doomed);
  }
  return deleted;
}
