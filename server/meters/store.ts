/**
 * Meters domain over Deno KV, write side: what ingest commits, and the latest
 * reading of every meter. Readings are stored in packed blocks, never one key
 * per reading: a fresh key per reading is a random B-tree insert, and local
 * SQLite KV manages only ~22k of those a second here, against ~1M readings a
 * second as 30 KB blocks (bench/ingest.ts measures both).
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["ingest_log", source, ...entry]        -> Uint8Array   packed readings, waiting for the history
 *                                                           compactor (server/history/store.ts) to move them
 *   ["latest_slot", agentId, slot]          -> LatestSlot   the newest reading of each of about SLOT_METERS
 *                                                           meters of one agent (merged, never overwritten whole)
 *   ["latest_version", agentId]             -> number       bumped by every commit that touches the agent's
 *                                                           slots: instances check it, so none writes a slot
 *                                                           from a stale copy
 *   ["meters_latest", source, slot]         -> LatestBlock  OpenBeken units' latest readings (one slot per unit);
 *                                                           agents' blocks from before slots are still read
 *   ["meter_source", deviceId]              -> MeterSource  who owns a meter (the first to report it) and its
 *                                                           slot; written once, with a uniqueness check
 *   ["ingest_ledger", agentId, epoch, seq, part] -> { at }  (expires: dedupe window; batches from before
 *                                                           spool epochs: ["ingest_ledger", agentId, seq, part])
 *   ["ingest_counters", name]               -> Deno.KvU64   (summed across server instances)
 *   ["refused_readings", deviceId, source]  -> Deno.KvU64   readings `source` sent for a meter another source owns
 *   ["refused_readings_at", deviceId, source] -> RefusedAt  when the last of them came, and who owned the meter
 *
 * An agent's meters get slots in the order they first report, SLOT_METERS to
 * a slot, so the meters of one batch (read in the same order every second)
 * share a few slots, and a commit rewrites about as many latest readings as
 * it brings. A batch without some meter (another rate, another batch of the
 * same second) leaves that meter's reading where it is.
 */
import { Decoder, Encoder } from "../../shared/cbor.ts";
import type { Reading, TelemetryBatch } from "../../shared/telemetry.ts";
import type { MeterLatest, RefusedMeter } from "../../shared/fleet.ts";
export type { MeterLatest };

/** One atomic commit's worth of readings from one batch. Large batches are split into parts. */
export interface BatchPart {
  agentId: string;
  /** the agent's spool epoch; absent for batches from before epochs */
  epoch?: string;
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

/** One slot of an agent's latest readings: packed LatestEntry records. */
export interface LatestSlot {
  source: string;
  packed: Uint8Array;
}

interface LatestEntry {
  r: Reading;
  /** when the server committed it */
  c: number;
  /** how often this meter's readings arrive, smoothed (ms) */
  i?: number;
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
/**
 * Meters per latest slot: a 400-reading batch part in poll order touches about
 * four slots (few KV keys per commit, which is what costs here), and one slot,
 * 3-phase readings included, stays well below KV's 64 KiB. A part spread over
 * more slots than fit beside it has them written in commits of their own.
 */
export const SLOT_METERS = 128;

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
  return packBlocks(batch.readings).map((b, part) => ({
    agentId: batch.agentId,
    ...(batch.epoch === undefined ? {} : { epoch: batch.epoch }),
    seq: batch.seq,
    part,
    ...b,
  }));
}

/** Where a part is in its agent's sequence: a new spool's epoch makes its seq 0 a new entry, not a replay. */
const batchEntry = (p: BatchPart): Deno.KvKeyPart[] =>
  p.epoch === undefined ? [p.seq, p.part] : [p.epoch, p.seq, p.part];

function ledgerKey(p: BatchPart): Deno.KvKey {
  return ["ingest_ledger", p.agentId, ...batchEntry(p)];
}

const slotKey = (source: string, slot: number): Deno.KvKey => ["latest_slot", source, slot];
const versionKey = (source: string): Deno.KvKey => ["latest_version", source];

/** How often a meter reports, smoothed; one long gap (an outage) moves it at most 4×. */
function nextInterval(prev: number | undefined, gap: number): number | undefined {
  if (!(gap > 0)) return prev;
  const g = Math.min(Math.max(gap, 50), 3600_000);
  if (prev === undefined) return g;
  return Math.round(prev * 0.75 + Math.min(g, prev * 4) * 0.25);
}

interface SourceSlots {
  /** the agent's ["latest_version"] as last read or written by this process */
  versionstamp: string | null;
  slots: Map<number, Map<string, LatestEntry>>;
  /** where the next new meter goes */
  fillSlot: number;
  fillCount: number;
}

async function getManyChunked<T>(kv: Deno.Kv, keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
  const out: Deno.KvEntryMaybe<T>[] = [];
  for (let i = 0; i < keys.length; i += 10) out.push(...await kv.getMany<T[]>(keys.slice(i, i + 10)));
  return out;
}

/**
 * What an ingesting process knows of the meters: who owns each (read once,
 * then kept), and each agent's latest slots with the version it read them at.
 * A stale copy is harmless: the commit's version check fails and the agent's
 * slots are read again.
 */
export class IngestCache {
  #owners = new Map<string, MeterSource>();
  #sources = new Map<string, SourceSlots>();

  owner(deviceId: string): MeterSource | undefined {
    return this.#owners.get(deviceId);
  }

  /** This process's copy of an agent's slots (read from KV the first time, or after forget). */
  async slots(kv: Deno.Kv, source: string): Promise<SourceSlots> {
    let s = this.#sources.get(source);
    if (s) return s;
    // the version first: a slot written after it makes the next check fail, never the reverse
    const version = await kv.get(versionKey(source));
    s = { versionstamp: version.versionstamp, slots: new Map(), fillSlot: 0, fillCount: 0 };
    for await (const e of kv.list<LatestSlot>({ prefix: ["latest_slot", source] })) {
      const slot = e.key[2] as number;
      const meters = new Map<string, LatestEntry>();
      for (const entry of unpackEntries(e.value.packed)) {
        meters.set(entry.r.deviceId, entry);
        this.#owners.set(entry.r.deviceId, { source, slot });
      }
      s.slots.set(slot, meters);
      if (slot > s.fillSlot || (slot === s.fillSlot && meters.size > s.fillCount)) {
        s.fillSlot = slot;
        s.fillCount = meters.size;
      }
    }
    if (this.#sources.size > 100_000) this.#sources.clear(); // bounded: forgetting costs one re-read
    this.#sources.set(source, s);
    return s;
  }

  forget(source: string) {
    this.#sources.delete(source);
  }

  #assignSlot(s: SourceSlots): number {
    if (s.fillCount >= SLOT_METERS) {
      s.fillSlot++;
      s.fillCount = 0;
    }
    s.fillCount++;
    return s.fillSlot;
  }

  /**
   * Make sure every meter of these ids has an owner: a meter nobody reported
   * before becomes `source`'s (a uniqueness-checked write, so two agents
   * racing for one id cannot both win). Returns the ids another source owns.
   */
  async claim(
    kv: Deno.Kv,
    source: string,
    deviceIds: Iterable<string>,
    /** where the source keeps a meter's latest reading, when not in agent slots (OpenBeken: one key per unit) */
    slotFor?: (deviceId: string) => number | string,
  ): Promise<Set<string>> {
    const unknown = [...new Set(deviceIds)].filter((id) => !this.#owners.has(id));
    if (unknown.length > 0) {
      const s = slotFor ? null : await this.slots(kv, source);
      let todo = unknown;
      for (let round = 0; todo.length > 0; round++) {
        if (round > 10) throw new Error(`could not claim ${todo.length} meters for ${source}`);
        const found = await getManyChunked<MeterSource>(kv, todo.map((id) => ["meter_source", id]));
        const absent: string[] = [];
        const moved: Deno.KvEntry<MeterSource>[] = [];
        found.forEach((e, i) => {
          const owner = e.value;
          if (!owner) absent.push(todo[i]);
          // ours from before slots (its slot was a batch part): it gets a slot of its own
          else if (s && owner.source === source && !s.slots.has(owner.slot as number)) {
            moved.push(e as Deno.KvEntry<MeterSource>);
          } else this.#owners.set(todo[i], owner);
        });
        const retry: string[] = [];
        const claims = [
          ...absent.map((id) => ({ id, versionstamp: null as string | null })),
          ...moved.map((e) => ({ id: e.key[1] as string, versionstamp: e.versionstamp as string | null })),
        ];
        for (let i = 0; i < claims.length; i += 50) {
          const chunk = claims.slice(i, i + 50);
          const op = kv.atomic();
          const assigned = chunk.map((c) => {
            const at: MeterSource = { source, slot: slotFor ? slotFor(c.id) : this.#assignSlot(s!) };
            op.check({ key: ["meter_source", c.id], versionstamp: c.versionstamp }).set(["meter_source", c.id], at);
            return [c.id, at] as const;
          });
          if ((await op.commit()).ok) { for (const [id, at] of assigned) this.#owners.set(id, at); }
          else retry.push(...chunk.map((c) => c.id)); // someone else wrote one of them: read them again
        }
        todo = retry;
      }
      if (this.#owners.size > 2_000_000) this.#owners.clear(); // bounded: forgetting costs a re-read
    }
    const refused = new Set<string>();
    for (const id of deviceIds) if (this.#owners.get(id)?.source !== source) refused.add(id);
    return refused;
  }

  /** The batch with only the readings of meters its agent owns, and the ids it reported but does not own. */
  async admit(kv: Deno.Kv, batch: TelemetryBatch): Promise<{ batch: TelemetryBatch; refused: Set<string> }> {
    const refused = await this.claim(kv, batch.agentId, batch.readings.map((r) => r.deviceId));
    if (refused.size === 0) return { batch, refused };
    return { batch: { ...batch, readings: batch.readings.filter((r) => !refused.has(r.deviceId)) }, refused };
  }
}

const packEntries = (entries: LatestEntry[]) => new Uint8Array(blockEncoder.encode(entries));
const unpackEntries = (packed: Uint8Array) => blockDecoder.decode(packed) as LatestEntry[];

interface SlotWrites {
  source: string;
  state: SourceSlots;
  slots: Map<number, Map<string, LatestEntry>>;
  packed: Map<number, Uint8Array>;
  bytes: number;
}

/** Merge readings into copies of their agents' slots (the newest reading of each meter wins). */
function mergeLatest(cache: IngestCache, state: SourceSlots, source: string, readings: Reading[], now: number) {
  const newest = new Map<string, Reading>();
  for (const r of readings) {
    const prev = newest.get(r.deviceId);
    if (!prev || prev.ts < r.ts) newest.set(r.deviceId, r);
  }
  const slots = new Map<number, Map<string, LatestEntry>>();
  for (const [id, r] of newest) {
    const owner = cache.owner(id);
    if (owner?.source !== source || typeof owner.slot !== "number") continue; // not its meter: never written
    let meters = slots.get(owner.slot);
    if (!meters) slots.set(owner.slot, meters = new Map(state.slots.get(owner.slot)));
    const prev = meters.get(id);
    if (prev && prev.r.ts >= r.ts) continue; // a replay of something older
    meters.set(id, { r, c: now, i: nextInterval(prev?.i, prev ? r.ts - prev.r.ts : 0) });
  }
  return slots;
}

function slotWrites(cache: IngestCache, state: SourceSlots, source: string, readings: Reading[], now: number) {
  const slots = mergeLatest(cache, state, source, readings, now);
  const packed = new Map<number, Uint8Array>();
  let bytes = 0;
  for (const [slot, meters] of slots) {
    const p = packEntries([...meters.values()]);
    packed.set(slot, p);
    bytes += p.byteLength + 64;
  }
  return { source, state, slots, packed, bytes } satisfies SlotWrites;
}

function addSlotWrites(op: Deno.AtomicOperation, w: SlotWrites, now: number, only?: number[]) {
  op.check({ key: versionKey(w.source), versionstamp: w.state.versionstamp });
  op.set(versionKey(w.source), now);
  for (const slot of only ?? w.packed.keys()) {
    op.set(slotKey(w.source, slot), { source: w.source, packed: w.packed.get(slot)! } satisfies LatestSlot);
  }
}

function applySlotWrites(w: SlotWrites, versionstamp: string, only?: number[]) {
  for (const slot of only ?? w.slots.keys()) w.state.slots.set(slot, w.slots.get(slot)!);
  w.state.versionstamp = versionstamp;
}

/**
 * Merge readings into an agent's slots in commits of their own, as many as
 * the bytes need (for a batch whose meters are spread over too many slots to
 * rewrite them in its own commit). Another instance moving the slots on
 * makes this re-read them and merge again: newer readings always win.
 */
async function writeSlotsAlone(kv: Deno.Kv, cache: IngestCache, source: string, readings: Reading[], now: number) {
  for (let attempt = 1;; attempt++) {
    const w = slotWrites(cache, await cache.slots(kv, source), source, readings, now);
    let chunk: number[] = [], bytes = 0, ok = true;
    const flush = async () => {
      if (chunk.length === 0) return;
      const op = kv.atomic();
      addSlotWrites(op, w, now, chunk);
      const res = await op.commit();
      if (res.ok) applySlotWrites(w, res.versionstamp, chunk);
      ok = res.ok;
      chunk = [];
      bytes = 0;
    };
    for (const [slot, p] of w.packed) {
      if (bytes + p.byteLength > MAX_COMMIT_BYTES || chunk.length >= 900) await flush();
      if (!ok) break;
      chunk.push(slot);
      bytes += p.byteLength + 64;
    }
    if (ok) await flush();
    if (ok) return;
    if (attempt > 20) throw new Error("latest slots kept changing under this commit");
    cache.forget(source);
  }
}

/**
 * Commit several batch parts in one atomic operation, with their agents'
 * latest slots. Each part's ledger key must not exist yet and each agent's
 * slot version must be the one this process read: false when either check
 * failed (the caller finds out which). Slots too many to fit beside the
 * parts go in commits of their own right after (a crash in between leaves
 * those meters showing their previous reading, never missing).
 */
async function commitTogether(kv: Deno.Kv, parts: BatchPart[], now: number, cache: IngestCache): Promise<boolean> {
  const op = kv.atomic();
  let readings = 0, bytes = 0;
  const bySource = new Map<string, Reading[]>();
  for (const p of parts) {
    op.check({ key: ledgerKey(p), versionstamp: null });
    op.set(ledgerKey(p), { at: now }, { expireIn: LEDGER_TTL_MS });
    op.set(["ingest_log", p.agentId, ...batchEntry(p)], p.packed);
    bytes += p.packed.byteLength + 200;
    let list = bySource.get(p.agentId);
    if (!list) bySource.set(p.agentId, list = []);
    for (const r of p.readings) list.push(r);
    readings += p.readings.length;
  }
  const writes: SlotWrites[] = [];
  for (const [source, list] of bySource) {
    writes.push(slotWrites(cache, await cache.slots(kv, source), source, list, now));
  }
  const together = bytes + writes.reduce((s, w) => s + w.bytes, 0) <= MAX_COMMIT_BYTES &&
    writes.reduce((s, w) => s + w.packed.size, 0) + 3 * parts.length + writes.length <= 950;
  if (together) { for (const w of writes) addSlotWrites(op, w, now); }
  op.sum(["ingest_counters", "readings_committed"], BigInt(readings));
  const res = await op.commit();
  if (!res.ok) return false;
  if (together) { for (const w of writes) applySlotWrites(w, res.versionstamp); }
  else for (const [source, list] of bySource) await writeSlotsAlone(kv, cache, source, list, now);
  return true;
}

export const OBK_SOURCE = "openbeken";
let obkLogSeq = 0;

/**
 * Which meters this process has already indexed where (OpenBeken units): the
 * source index is written when a unit first appears, not every second.
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

  remember(pending: [string, string][]) {
    if (this.#seen.size > 1_000_000) this.#seen.clear(); // bounded: forgetting only costs a rewrite
    for (const [d, tag] of pending) this.#seen.set(d, tag);
  }
}

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
 * writes nothing, so no reading is ever counted twice; a part given twice in one call is committed once and its copy
 * reported as duplicate (one atomic operation would otherwise pass both copies' ledger checks). Meters are claimed
 * for the parts' agents first; callers drop readings of meters another
 * source owns beforehand (IngestCache.admit), since those are never stored.
 */
export async function commitParts(
  kv: Deno.Kv,
  parts: BatchPart[],
  now = Date.now(),
  cache = new IngestCache(),
): Promise<CommitOutcome> {
  const out: CommitOutcome = { committed: [], duplicate: [] };
  const given = new Set<string>();
  parts = parts.filter((p) => {
    const key = JSON.stringify(ledgerKey(p));
    if (given.has(key)) {
      out.duplicate.push(p);
      return false;
    }
    given.add(key);
    return true;
  });
  const idsBySource = new Map<string, string[]>();
  for (const p of parts) {
    let ids = idsBySource.get(p.agentId);
    if (!ids) idsBySource.set(p.agentId, ids = []);
    for (const r of p.readings) ids.push(r.deviceId);
  }
  for (const [source, ids] of idsBySource) await cache.claim(kv, source, ids);

  let group: BatchPart[] = [];
  let groupBytes = 0, groupMutations = 0;
  const flush = async () => {
    let pending = group;
    group = [];
    groupBytes = 0;
    groupMutations = 0;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (await commitTogether(kv, pending, now, cache)) {
        out.committed.push(...pending);
        return;
      }
      // a replayed part, or another instance moved an agent's slots on: find out which
      if (attempt > 20) throw new Error("latest slots kept changing under this commit");
      const ledger = await getManyChunked(kv, pending.map(ledgerKey));
      const fresh: BatchPart[] = [];
      pending.forEach((p, i) => (ledger[i].versionstamp === null ? fresh : out.duplicate).push(p));
      pending = fresh;
      for (const source of new Set(pending.map((p) => p.agentId))) cache.forget(source);
    }
  };
  const sources = new Set<string>();
  for (const p of parts) {
    // the log entry, plus up to one latest slot rewrite per reading (SLOT_METERS readings each) in the worst case;
    // checks are capped at 100 and mutations at 1000
    const touched = new Set(p.readings.map((r) => cache.owner(r.deviceId)?.slot)).size;
    const bytes = p.packed.byteLength + touched * SLOT_METERS * 120;
    const mutations = 2 + touched + (sources.has(p.agentId) ? 0 : 1);
    const checks = group.length + sources.size + (sources.has(p.agentId) ? 1 : 2);
    if (
      group.length > 0 &&
      (groupBytes + bytes > MAX_COMMIT_BYTES || checks > 90 || groupMutations + mutations > 950)
    ) {
      await flush();
      sources.clear();
    }
    group.push(p);
    sources.add(p.agentId);
    groupBytes += bytes;
    groupMutations += mutations;
  }
  if (group.length > 0) await flush();
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

/** Readings refused because another agent owns their meter (counted per reading, not per batch). */
export const REFUSED_NOT_OWNER = "meter_owned_by_other_agent";

/** Readings one source sent for one meter it does not own (a RefusedMeter before it has a time). */
export type RefusedReadings = Omit<RefusedMeter, "lastAt">;

interface RefusedAt {
  at: number;
  owner: string;
}

/** Count, per meter, the readings of `deviceIds` (one per reading) whose meter is in `refused`, with its owner. */
export function refusedPerMeter(
  cache: IngestCache,
  source: string,
  deviceIds: Iterable<string>,
  refused: Set<string>,
): RefusedReadings[] {
  const counts = new Map<string, number>();
  for (const id of deviceIds) if (refused.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return [...counts].map(([deviceId, readings]) => ({
    deviceId,
    source,
    owner: cache.owner(deviceId)?.source ?? "",
    readings,
  }));
}

/** The fleet-wide count plus, per meter and sender, a count and when it last happened (sums: instances add up). */
export async function countRefusedReadings(kv: Deno.Kv, refused: RefusedReadings[], now = Date.now()) {
  const total = refused.reduce((n, r) => n + r.readings, 0);
  if (total === 0) return;
  // three mutations per meter: stay under the 1000 mutations of one atomic operation
  for (let i = 0, first = true; i < refused.length; i += 300, first = false) {
    const op = kv.atomic();
    if (first) op.sum(["ingest_rejections", REFUSED_NOT_OWNER], BigInt(total));
    for (const r of refused.slice(i, i + 300)) {
      op.sum(["refused_readings", r.deviceId, r.source], BigInt(r.readings))
        .set(["refused_readings_at", r.deviceId, r.source], { at: now, owner: r.owner } satisfies RefusedAt);
    }
    await op.commit();
  }
}

/**
 * Refused readings per meter and sender, the most recent first (at most `limit`), or only `deviceId`'s;
 * `meters` is how many such pairs there are in all.
 */
export async function listRefusedMeters(
  kv: Deno.Kv,
  o: { limit?: number; deviceId?: string } = {},
): Promise<{ meters: number; items: RefusedMeter[] }> {
  const prefix = o.deviceId === undefined ? [] : [o.deviceId];
  const at = new Map<string, RefusedAt>();
  for await (const e of kv.list<RefusedAt>({ prefix: ["refused_readings_at", ...prefix] })) {
    at.set(`${String(e.key[1])}\u0000${String(e.key[2])}`, e.value);
  }
  const items: RefusedMeter[] = [];
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["refused_readings", ...prefix] })) {
    const [deviceId, source] = [String(e.key[1]), String(e.key[2])];
    const last = at.get(`${deviceId}\u0000${source}`);
    items.push({ deviceId, source, owner: last?.owner ?? "", readings: Number(e.value.value), lastAt: last?.at ?? 0 });
  }
  items.sort((a, b) => b.lastAt - a.lastAt || (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  return { meters: items.length, items: o.limit === undefined ? items : items.slice(0, o.limit) };
}

export async function readRejections(kv: Deno.Kv): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["ingest_rejections"] })) {
    out[String(e.key[1])] = Number(e.value.value);
  }
  return out;
}

function keepNewer(into: Map<string, MeterLatest>, m: MeterLatest) {
  const prev = into.get(m.deviceId);
  if (!prev || prev.reading.ts < m.reading.ts) into.set(m.deviceId, m);
}

/** Fold a latest block (OpenBeken units, agents before slots) into `into`, keeping each meter's newest reading. */
function foldLatest(into: Map<string, MeterLatest>, block: LatestBlock, only?: string) {
  for (const reading of unpackReadings(block.packed)) {
    if (only !== undefined && reading.deviceId !== only) continue;
    keepNewer(into, { deviceId: reading.deviceId, agentId: block.source, reading, committedAt: block.committedAt });
  }
}

function latestOf(e: LatestEntry, source: string): MeterLatest {
  const m: MeterLatest = { deviceId: e.r.deviceId, agentId: source, reading: e.r, committedAt: e.c };
  if (e.i !== undefined) m.intervalMs = e.i;
  return m;
}

function foldSlot(into: Map<string, MeterLatest>, slot: LatestSlot, only?: string) {
  for (const e of unpackEntries(slot.packed)) {
    if (only !== undefined && e.r.deviceId !== only) continue;
    keepNewer(into, latestOf(e, slot.source));
  }
}

/** Every meter that ever reported, with its newest committed reading. */
export async function listLatest(kv: Deno.Kv): Promise<MeterLatest[]> {
  const blocks: LatestBlock[] = [];
  for await (const e of kv.list<LatestBlock>({ prefix: ["meters_latest"] })) blocks.push(e.value);
  if (blocks.length === 0) {
    // agents' meters only: each is in exactly one slot (its owner's, assigned once), so nothing to merge — the live
    // view reads every meter every second, and skipping the merge map is a third of that
    const out: MeterLatest[] = [];
    for await (const e of kv.list<LatestSlot>({ prefix: ["latest_slot"] })) {
      for (const en of unpackEntries(e.value.packed)) out.push(latestOf(en, e.value.source));
    }
    return out;
  }
  const latest = new Map<string, MeterLatest>();
  for await (const e of kv.list<LatestSlot>({ prefix: ["latest_slot"] })) foldSlot(latest, e.value);
  for (const b of blocks) foldLatest(latest, b);
  return [...latest.values()];
}

export async function getLatest(kv: Deno.Kv, deviceId: string): Promise<MeterLatest | null> {
  const at = await getMeterSource(kv, deviceId);
  if (!at) return null;
  const latest = new Map<string, MeterLatest>();
  if (typeof at.slot === "number") {
    const slot = (await kv.get<LatestSlot>(slotKey(at.source, at.slot))).value;
    if (slot) foldSlot(latest, slot, deviceId);
  }
  if (!latest.has(deviceId)) {
    const block = (await kv.get<LatestBlock>(["meters_latest", at.source, at.slot])).value;
    if (block) foldLatest(latest, block, deviceId);
  }
  // a meter claimed whose first commit has not landed yet, or one from before slots: a full scan settles it
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
