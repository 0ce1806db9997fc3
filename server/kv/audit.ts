/**
 * Audit log: every operator and engine action (firmware uploaded, rollout
 * created/paused/resumed/cancelled, unit commanded, rework logged, ...).
 * Append-only; written in the same atomic commit as the change it describes
 * when the caller passes its AtomicOperation.
 *
 * Keys (this module owns them):
 *   ["audit", at, rand]                   -> AuditEntry
 *   ["audit_by_target", target, at, rand] -> true
 */
import { getManyChunked } from "./bulk.ts";

export interface AuditEntry {
  id: string;
  at: number;
  /** user name, "engine", "bench:<host>", "ingest" */
  actor: string;
  /** dotted verb: "firmware.upload", "rollout.pause", "ota.command", "unit.rework" */
  action: string;
  /** what it acted on: "unit:u-…", "rollout:r-…", "firmware:fw-…" */
  target: string;
  details?: Record<string, unknown>;
}

export type AuditInput = Omit<AuditEntry, "id" | "at"> & { at?: number };

/** Add an audit entry to an atomic operation (so it lands with the change, or not at all). */
export function auditOp(op: Deno.AtomicOperation, input: AuditInput, now = Date.now()): AuditEntry {
  const at = input.at ?? now;
  const rand = crypto.randomUUID().slice(0, 8);
  const entry: AuditEntry = { ...input, at, id: `${at}-${rand}` };
  op.set(["audit", at, rand], entry);
  op.set(["audit_by_target", input.target, at, rand], true);
  return entry;
}

export async function recordAudit(kv: Deno.Kv, input: AuditInput, now = Date.now()): Promise<AuditEntry> {
  const op = kv.atomic();
  const e = auditOp(op, input, now);
  await op.commit();
  return e;
}

/** Newest first. */
export async function listAudit(
  kv: Deno.Kv,
  opts: { target?: string; limit?: number; since?: number } = {},
): Promise<AuditEntry[]> {
  const limit = opts.limit ?? 500;
  const out: AuditEntry[] = [];
  if (opts.target) {
    const keys: Deno.KvKey[] = [];
    for await (const e of kv.list({ prefix: ["audit_by_target", opts.target] }, { reverse: true, limit })) {
      keys.push(["audit", e.key[2], e.key[3]]);
    }
    for (const g of await getManyChunked<AuditEntry>(kv, keys)) if (g.value) out.push(g.value);
  } else {
    const sel: Deno.KvListSelector = opts.since
      ? { prefix: ["audit"], start: ["audit", opts.since] }
      : { prefix: ["audit"] };
    for await (const e of kv.list<AuditEntry>(sel, { reverse: true, limit })) out.push(e.value);
  }
  return out.filter((e) => !opts.since || e.at >= opts.since);
}
