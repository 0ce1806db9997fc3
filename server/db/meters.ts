/**
 * Meters domain over Deno KV: the latest reading of every meter, its reading
 * history, and the ingest ledger that makes telemetry ingest idempotent.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["meters", deviceId]                       -> MeterLatest
 *   ["meter_history", deviceId, ts]            -> HistoryPoint
 *   ["ingest_ledger", agentId, seq, part]      -> { at }   (expires: dedupe window)
 *   ["ingest_counters", name]                  -> Deno.KvU64 (summed across server instances)
 */
import type { Reading, TelemetryBatch } from "../../shared/telemetry.ts";
import type { MeterLatest } from "../../shared/fleet.ts";
export type { MeterLatest };

export type HistoryPoint = Omit<Reading, "deviceId">;

/** One atomic commit's worth of readings from one batch. Large batches are split into parts. */
export interface BatchPart {
  agentId: string;
  seq: number;
  part: number;
  readings: Reading[];
}

export type IngestCounter =
  | "batches_committed"
  | "batches_duplicate"
  | "batches_rejected"
  | "readings_committed";

/** Deno KV allows 1000 mutations per atomic commit; each reading costs two (latest + history). */
export const READINGS_PER_COMMIT = 450;
/** A replay older than this is no longer recognised as a duplicate. Agents drop unacked batches long before. */
export const LEDGER_TTL_MS = 30 * 24 * 3600 * 1000;

export function splitBatch(batch: TelemetryBatch): BatchPart[] {
  const parts: BatchPart[] = [];
  for (let i = 0; i === 0 || i * READINGS_PER_COMMIT < batch.readings.length; i++) {
    parts.push({
      agentId: batch.agentId,
      seq: batch.seq,
      part: i,
      readings: batch.readings.slice(i * READINGS_PER_COMMIT, (i + 1) * READINGS_PER_COMMIT),
    });
  }
  return parts;
}

function ledgerKey(p: BatchPart): Deno.KvKey {
  return ["ingest_ledger", p.agentId, p.seq, p.part];
}

/**
 * Commit several batch parts in one atomic operation. Each part's ledger key
 * must not exist yet, so a replayed part makes the whole commit fail and the
 * caller retries part by part (see commitParts). Returns false on that conflict.
 */
async function commitTogether(kv: Deno.Kv, parts: BatchPart[], now: number): Promise<boolean> {
  const op = kv.atomic();
  let readings = 0;
  const latest = new Map<string, { agentId: string; reading: Reading }>();
  for (const p of parts) {
    op.check({ key: ledgerKey(p), versionstamp: null });
    op.set(ledgerKey(p), { at: now }, { expireIn: LEDGER_TTL_MS });
    for (const r of p.readings) {
      const { deviceId, ...point } = r;
      op.set(["meter_history", deviceId, r.ts], point);
      const prev = latest.get(deviceId);
      if (!prev || prev.reading.ts <= r.ts) latest.set(deviceId, { agentId: p.agentId, reading: r });
      readings++;
    }
  }
  for (const [deviceId, { agentId, reading }] of latest) {
    op.set(["meters", deviceId], { deviceId, agentId, reading, committedAt: now } satisfies MeterLatest);
  }
  op.sum(["ingest_counters", "readings_committed"], BigInt(readings));
  const res = await op.commit();
  return res.ok;
}

/**
 * Add readings from a source other than an agent batch (OpenBeken units) to
 * the caller's atomic op: history points and the latest reading per meter.
 * `source` shows where the agent id would be. Returns the mutation count.
 */
export function addReadings(op: Deno.AtomicOperation, source: string, readings: Reading[], now: number): number {
  const latest = new Map<string, Reading>();
  for (const r of readings) {
    const { deviceId, ...point } = r;
    op.set(["meter_history", deviceId, r.ts], point);
    const prev = latest.get(deviceId);
    if (!prev || prev.ts <= r.ts) latest.set(deviceId, r);
  }
  for (const [deviceId, reading] of latest) {
    op.set(["meters", deviceId], { deviceId, agentId: source, reading, committedAt: now } satisfies MeterLatest);
  }
  return readings.length + latest.size;
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
export async function commitParts(kv: Deno.Kv, parts: BatchPart[], now = Date.now()): Promise<CommitOutcome> {
  const out: CommitOutcome = { committed: [], duplicate: [] };
  let group: BatchPart[] = [];
  let groupReadings = 0;
  const flush = async () => {
    if (group.length === 0) return;
    if (await commitTogether(kv, group, now)) {
      out.committed.push(...group);
    } else {
      // Some part is a replay: fall back to one commit per part to find which.
      for (const p of group) {
        if (await commitTogether(kv, [p], now)) out.committed.push(p);
        else out.duplicate.push(p);
      }
    }
    group = [];
    groupReadings = 0;
  };
  for (const p of parts) {
    // checks are limited too (100 per commit): keep groups well under both limits
    if (groupReadings + p.readings.length > READINGS_PER_COMMIT || group.length >= 50) await flush();
    group.push(p);
    groupReadings += p.readings.length;
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

export async function listLatest(kv: Deno.Kv): Promise<MeterLatest[]> {
  const out: MeterLatest[] = [];
  for await (const e of kv.list<MeterLatest>({ prefix: ["meters"] })) out.push(e.value);
  return out;
}

export async function getLatest(kv: Deno.Kv, deviceId: string): Promise<MeterLatest | null> {
  return (await kv.get<MeterLatest>(["meters", deviceId])).value;
}

/** History of one meter in [from, to), oldest first. One prefix range scan. */
export async function listHistory(
  kv: Deno.Kv,
  deviceId: string,
  from: number,
  to: number,
  limit = 20_000,
): Promise<(HistoryPoint & { ts: number })[]> {
  const out: (HistoryPoint & { ts: number })[] = [];
  const iter = kv.list<HistoryPoint>({
    start: ["meter_history", deviceId, from],
    end: ["meter_history", deviceId, to],
  }, { limit, batchSize: 500 });
  for await (const e of iter) out.push(e.value);
  return out;
}

/** Every history point of a meter (tests and exports). */
export async function countHistory(kv: Deno.Kv, deviceId: string): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix: ["meter_history", deviceId] })) n++;
  return n;
}
