/**
 * Meters domain over Deno KV, write side: what ingest commits, and the latest
 * reading of every meter. Readings are stored in packed blocks, never one key
 * per reading: a fresh key per reading is a random B-tree insert, and local
 * SQLite KV manages only ~22k of those a second here, against ~1M readings a
 * second as 30 KB blocks (bench/ingest.ts measures both).
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["ingest_log", source, ...entry]        -> Uint8Array   packed readings, waiting for the history
 *                                                           compactor (server/db/history.ts) to move them
 *   ["meters_latest", source, slot]         -> LatestBlock  the newest readings of one batch slot
 *   ["meter_source", deviceId]              -> MeterSource  where a meter's latest block and log are
 *   ["ingest_ledger", agentId, seq, part]   -> { at }       (expires: dedupe window)
 *   ["ingest_counters", name]               -> Deno.KvU64   (summed across server instances)
 *
 * An agent's source is its agent id, a log entry is (seq, part) and its slot
 * is the part number: the same meters land in the same slot every second, so
 * the latest block is overwritten, not grown. OpenBeken units use source
 * "openbeken" with one slot per unit.
 */
import { Decoder, Encoder } from "../../shared/cbor.ts";
import type { Reading, TelemetryBatch } from "../../shared/telemetry.ts";
import type { MeterLatest } from "../../shared/fleet.ts";
export type { MeterLatest };

/** One atomic commit's worth of readings from one batch. Large batches are split into parts. */
export interface BatchPart {
  agentId: string;
  seq: number;
  part: number;
  readings: Reading[];
  /** the readings, packed (what is stored) */
  packed: Uint8Array;
}

export interface LatestBlock {
  source: string;
  committedAt: number;
  packed: Uint8Array;
}

export interface MeterSource {
  source: string;
  slot: number | string;
}

export type IngestCounter =
  | "batches_committed"
  | "batches_duplicate"
  | "batches_rejected"
  | "readings_committed";

/** A packed block stays under Deno KV's 64 KiB value limit with room to spare. */
export const MAX_BLOCK_BYTES = 60_000;
/** Deno KV caps an atomic commit at 800 KiB of keys and values; leave headroom for keys. */
const MAX_COMMIT_BYTES = 700_000;
/** A replay older than this is no longer recognised as a duplicate. Agents drop unacked batches long before. */
export const LEDGER_TTL_MS = 30 * 24 * 3600 * 1000;

// CBOR records: a block's field names are written once, not per reading (~76 B a reading).
// Every block carries its own record definitions (no shared structures, no `sequential`,
// which would leave later blocks referring to definitions only this process saw).
const blockEncoder = new Encoder({ useRecords: true });
const blockDecoder = new Decoder({ useRecords: true });

export function packReadings(readings: Reading[]): Uint8Array {
  // a plain copy: cbor-x returns a Node Buffer viewing its reusable pool, which KV would store whole
  return new Uint8Array(blockEncoder.encode(readings));
}

export function unpackReadings(packed: Uint8Array): Reading[] {
  return blockDecoder.decode(packed) as Reading[];
}

/**
 * Pack readings into blocks of at most MAX_BLOCK_BYTES, halving a chunk until
 * it fits. Deterministic: the same readings always give the same blocks, which
 * is what lets a replayed batch hit the same ledger keys.
 */
export function packBlocks(readings: Reading[]): { readings: Reading[]; packed: Uint8Array }[] {
  const packed = packReadings(readings);
  if (packed.byteLength <= MAX_BLOCK_BYTES || readings.length <= 1) return [{ readings, packed }];
  const mid = Math.ceil(readings.length / 2);
  return [...packBlocks(readings.slice(0, mid)), ...packBlocks(readings.slice(mid))];
}

export function splitBatch(batch: TelemetryBatch): BatchPart[] {
  return packBlocks(batch.readings).map((b, part) => ({ agentId: batch.agentId, seq: batch.seq, part, ...b }));
}

function ledgerKey(p: BatchPart): Deno.KvKey {
  return ["ingest_ledger", p.agentId, p.seq, p.part];
}

/**
 * Which meters this process has already indexed where: the source index is
 * written when a meter first appears or moves, not every second.
 */
export class SourceIndexCache {
  #seen = new Map<string, string>();

  /** Add the index writes this commit needs; returns the pending entries to remember once it commits. */
  add(op: Deno.AtomicOperation, readings: Reading[], at: MeterSource): [string, string][] {
    const tag = `${at.source}\u0000${at.slot}`;
    const pending = new Map<string, string>();
    for (const r of readings) {
      if (this.#seen.get(r.deviceId) === tag || pending.has(r.deviceId)) continue;
      op.set(["meter_source", r.deviceId], at satisfies MeterSource);
      pending.set(r.deviceId, tag);
    }
    return [...pending];
  }

  /** How many index writes these readings would need (for sizing commits). */
  missing(readings: Reading[], at: MeterSource): number {
    const tag = `${at.source}\u0000${at.slot}`;
    let n = 0;
    for (const r of readings) if (this.#seen.get(r.deviceId) !== tag) n++;
    return n;
  }

  remember(pending: [string, string][]) {
    if (this.#seen.size > 1_000_000) this.#seen.clear(); // bounded: forgetting only costs a rewrite
    for (const [d, tag] of pending) this.#seen.set(d, tag);
  }
}

/**
 * Commit several batch parts in one atomic operation. Each part's ledger key
 * must not exist yet, so a replayed part makes the whole commit fail and the
 * caller retries part by part (see commitParts). Returns false on that conflict.
 */
async function commitTogether(kv: Deno.Kv, parts: BatchPart[], now: number, index: SourceIndexCache): Promise<boolean> {
  const op = kv.atomic();
  let readings = 0;
  const pending: [string, string][] = [];
  for (const p of parts) {
    op.check({ key: ledgerKey(p), versionstamp: null });
    op.set(ledgerKey(p), { at: now }, { expireIn: LEDGER_TTL_MS });
    op.set(["ingest_log", p.agentId, p.seq, p.part], p.packed);
    op.set(
      ["meters_latest", p.agentId, p.part],
      { source: p.agentId, committedAt: now, packed: p.packed } satisfies LatestBlock,
    );
    pending.push(...index.add(op, p.readings, { source: p.agentId, slot: p.part }));
    readings += p.readings.length;
  }
  op.sum(["ingest_counters", "readings_committed"], BigInt(readings));
  const res = await op.commit();
  if (res.ok) index.remember(pending);
  return res.ok;
}

const OBK_SOURCE = "openbeken";
let obkLogSeq = 0;

/**
 * Add readings from a source other than an agent batch (OpenBeken units) to
 * the caller's atomic op: a log entry (for history) and each unit's latest
 * block. Call `committed()` once the op has committed, so the source index
 * is not written again for these units.
 */
export function addReadings(
  op: Deno.AtomicOperation,
  readings: Reading[],
  now: number,
  index = new SourceIndexCache(),
): { committed(): void } {
  if (readings.length === 0) return { committed() {} };
  const entry = `${now}-${(obkLogSeq++).toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
  packBlocks(readings).forEach((b, i) => op.set(["ingest_log", OBK_SOURCE, entry, i], b.packed));
  const latest = new Map<string, Reading>();
  for (const r of readings) {
    const prev = latest.get(r.deviceId);
    if (!prev || prev.ts <= r.ts) latest.set(r.deviceId, r);
  }
  const pending: [string, string][] = [];
  for (const [deviceId, r] of latest) {
    op.set(
      ["meters_latest", OBK_SOURCE, deviceId],
      { source: OBK_SOURCE, committedAt: now, packed: packReadings([r]) } satisfies LatestBlock,
    );
    pending.push(...index.add(op, [r], { source: OBK_SOURCE, slot: deviceId }));
  }
  return { committed: () => index.remember(pending) };
}

export interface CommitOutcome {
  committed: BatchPart[];
  duplicate: BatchPart[];
}

/**
 * Commit parts, many per atomic operation. A part whose ledger key already
 * exists was committed before (a replay): it is reported as duplicate and
 * writes nothing, so no reading is ever counted twice.
 */
export async function commitParts(
  kv: Deno.Kv,
  parts: BatchPart[],
  now = Date.now(),
  index = new SourceIndexCache(),
): Promise<CommitOutcome> {
  const out: CommitOutcome = { committed: [], duplicate: [] };
  let group: BatchPart[] = [];
  let groupBytes = 0, groupMutations = 0;
  const flush = async () => {
    if (group.length === 0) return;
    if (await commitTogether(kv, group, now, index)) {
      out.committed.push(...group);
    } else {
      // Some part is a replay: fall back to one commit per part to find which.
      for (const p of group) {
        if (await commitTogether(kv, [p], now, index)) out.committed.push(p);
        else out.duplicate.push(p);
      }
    }
    group = [];
    groupBytes = 0;
    groupMutations = 0;
  };
  for (const p of parts) {
    // each part is written twice (log + latest); checks are capped at 100 and mutations at 1000
    // (index writes for meters new to this slot count too; in steady state there are none)
    const bytes = 2 * p.packed.byteLength;
    const mutations = 3 + index.missing(p.readings, { source: p.agentId, slot: p.part });
    if (groupBytes + bytes > MAX_COMMIT_BYTES || group.length >= 50 || groupMutations + mutations > 950) await flush();
    group.push(p);
    groupBytes += bytes;
    groupMutations += mutations;
  }
  await flush();
  return out;
}

export async function addIngestCounters(kv: Deno.Kv, counts: Partial<Record<IngestCounter, number>>) {
  const op = kv.atomic();
  for (const [name, n] of Object.entries(counts)) {
    if (n) op.sum(["ingest_counters", name], BigInt(n));
  }
  await op.commit();
}

export async function readIngestCounters(kv: Deno.Kv): Promise<Record<IngestCounter, number>> {
  const out: Record<IngestCounter, number> = {
    batches_committed: 0,
    batches_duplicate: 0,
    batches_rejected: 0,
    readings_committed: 0,
  };
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["ingest_counters"] })) {
    out[e.key[1] as IngestCounter] = Number(e.value.value);
  }
  return out;
}

/** Rejections by cause (CodecError code), for /api/health. */
export async function countRejection(kv: Deno.Kv, code: string) {
  await kv.atomic()
    .sum(["ingest_counters", "batches_rejected"], 1n)
    .sum(["ingest_rejections", code], 1n)
    .commit();
}

export async function readRejections(kv: Deno.Kv): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["ingest_rejections"] })) {
    out[String(e.key[1])] = Number(e.value.value);
  }
  return out;
}

/** Fold a latest block into `into`, keeping each meter's newest reading. */
function foldLatest(into: Map<string, MeterLatest>, block: LatestBlock, only?: string) {
  for (const reading of unpackReadings(block.packed)) {
    if (only !== undefined && reading.deviceId !== only) continue;
    const prev = into.get(reading.deviceId);
    if (!prev || prev.reading.ts < reading.ts) {
      into.set(reading.deviceId, {
        deviceId: reading.deviceId,
        agentId: block.source,
        reading,
        committedAt: block.committedAt,
      });
    }
  }
}

/** Every meter with its newest committed reading. A meter that changed slots is in two blocks: the newer wins. */
export async function listLatest(kv: Deno.Kv): Promise<MeterLatest[]> {
  const latest = new Map<string, MeterLatest>();
  for await (const e of kv.list<LatestBlock>({ prefix: ["meters_latest"] })) foldLatest(latest, e.value);
  return [...latest.values()];
}

export async function getLatest(kv: Deno.Kv, deviceId: string): Promise<MeterLatest | null> {
  const at = await getMeterSource(kv, deviceId);
  if (!at) return null;
  const block = (await kv.get<LatestBlock>(["meters_latest", at.source, at.slot])).value;
  const latest = new Map<string, MeterLatest>();
  if (block) foldLatest(latest, block, deviceId);
  // the index is a hint written by whichever instance saw the meter move last: fall back to a full scan
  return latest.get(deviceId) ?? (await listLatest(kv)).find((m) => m.deviceId === deviceId) ?? null;
}

export async function getMeterSource(kv: Deno.Kv, deviceId: string): Promise<MeterSource | null> {
  return (await kv.get<MeterSource>(["meter_source", deviceId])).value;
}

/** Every meter ever indexed (pruning walks these). */
export async function listMeterIds(kv: Deno.Kv): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of kv.list({ prefix: ["meter_source"] })) ids.push(e.key[1] as string);
  return ids;
}
