/**
 * What each stored stock backup says about its device (shared/tuya-config): inspected once per
 * backup content, kept by sha256, and looked up through a unit's backups. The Wi-Fi password is
 * never part of an inspection (the decoder reports only whether an SSID is set).
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["stock_config", sha256]                  -> StockConfig
 *   ["stock_config_by_pk", productKey, sha256] -> true
 *   ["stock_config_batch", batchId, sha256]    -> { agentId, port, at }   (backups uploaded by a flash batch)
 *
 * Backup bytes are read only through server/flash/store.ts getBackupBytes → blobs.ts getBlob, the
 * blob module's read function, so storage details (chunking, encryption at rest) stay there.
 */
import {
  type BackupInspection,
  findOutliers,
  fingerprintOf,
  inspectBackup,
  type ObkProposal,
  obkProposal,
  type StockFingerprint,
} from "../../shared/tuya-config/mod.ts";
import { CodecError } from "../../shared/errors.ts";
import { getBackupBytes } from "../flash/store.ts";
import type { BlobKey } from "../kv/blobs.ts";
import { getManyChunked } from "../kv/bulk.ts";
import type { Unit } from "../inventory/units.ts";

/** Bump when the decoder learns something: older records are inspected again at start. */
export const INSPECTOR_VERSION = 1;

export type StockConfig =
  | {
    sha256: string;
    at: number;
    version: number;
    status: "found";
    inspection: BackupInspection;
    proposal: ObkProposal;
    fingerprint: StockFingerprint;
  }
  | { sha256: string; at: number; version: number; status: "none"; reason: string }
  | { sha256: string; at: number; version: number; status: "error"; code: string; message: string };

export async function getStockConfig(kv: Deno.Kv, sha256: string): Promise<StockConfig | null> {
  return (await kv.get<StockConfig>(["stock_config", sha256])).value;
}

/** Inspect a stored backup and keep the result; a missing backup gives null. */
export async function inspectStoredBackup(
  kv: Deno.Kv,
  key: BlobKey,
  sha256: string,
  now = Date.now(),
): Promise<StockConfig | null> {
  const bytes = await getBackupBytes(kv, key, sha256);
  if (!bytes) return null;
  let rec: StockConfig;
  try {
    const r = inspectBackup(bytes);
    rec = r.found
      ? {
        sha256,
        at: now,
        version: INSPECTOR_VERSION,
        status: "found",
        inspection: r,
        proposal: obkProposal(r),
        fingerprint: fingerprintOf(r),
      }
      : { sha256, at: now, version: INSPECTOR_VERSION, status: "none", reason: r.reason };
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    rec = { sha256, at: now, version: INSPECTOR_VERSION, status: "error", code: e.code, message: e.message };
  }
  const prev = await kv.get<StockConfig>(["stock_config", sha256]);
  const op = kv.atomic().check(prev).set(["stock_config", sha256], rec);
  if (prev.value?.status === "found" && prev.value.inspection.productKey) {
    op.delete(["stock_config_by_pk", prev.value.inspection.productKey, sha256]);
  }
  if (rec.status === "found" && rec.inspection.productKey) {
    op.set(["stock_config_by_pk", rec.inspection.productKey, sha256], true);
  }
  // a concurrent inspection of the same bytes wrote the same thing: either result is fine
  await op.commit();
  return rec;
}

export async function noteBatchBackup(
  kv: Deno.Kv,
  batchId: string,
  sha256: string,
  from: { agentId: string; port: string | null },
  now = Date.now(),
) {
  await kv.set(["stock_config_batch", batchId, sha256], { ...from, at: now });
}

/** The backups a batch uploaded, with their stock configs (null while not yet inspected). */
export async function batchStockConfigs(
  kv: Deno.Kv,
  batchId: string,
): Promise<{ sha256: string; port: string | null; config: StockConfig | null }[]> {
  const rows: { sha256: string; port: string | null }[] = [];
  for await (const e of kv.list<{ port: string | null }>({ prefix: ["stock_config_batch", batchId] })) {
    rows.push({ sha256: e.key[2] as string, port: e.value.port });
  }
  const got = await getManyChunked<StockConfig>(kv, rows.map((r) => ["stock_config", r.sha256]));
  return rows.map((r, i) => ({ ...r, config: got[i].value }));
}

/**
 * A unit's stock config: its earliest backup that holds a Tuya store (later backups are often
 * of OpenBeken already), else what the latest inspection said.
 */
export async function stockConfigForUnit(kv: Deno.Kv, unit: Unit): Promise<StockConfig | null> {
  const shas = [...unit.backups].sort((a, b) => a.at - b.at).map((b) => b.backupId);
  if (!shas.length) return null;
  const got = await getManyChunked<StockConfig>(kv, shas.map((s) => ["stock_config", s]));
  const recs = got.map((g) => g.value).filter((v): v is StockConfig => v !== null);
  return recs.find((r) => r.status === "found") ?? recs[recs.length - 1] ?? null;
}

/** Stock configs of many units at once (inventory page): unit id → config. */
export async function stockConfigsForUnits(kv: Deno.Kv, units: Unit[]): Promise<Map<string, StockConfig>> {
  const out = new Map<string, StockConfig>();
  for (const u of units) {
    const c = await stockConfigForUnit(kv, u);
    if (c) out.set(u.id, c);
  }
  return out;
}

/** sha256 of every stored backup whose inspection is missing or older than this inspector. */
export async function backupsToInspect(kv: Deno.Kv): Promise<string[]> {
  const shas: string[] = [];
  for await (const e of kv.list({ prefix: ["flash_backup"] })) shas.push(e.key[1] as string);
  const got = await getManyChunked<StockConfig>(kv, shas.map((s) => ["stock_config", s]));
  return shas.filter((_, i) => !got[i].value || got[i].value!.version < INSPECTOR_VERSION);
}

/**
 * The inventory's view: each unit's product key and, among units of the same product key,
 * what differs from the rest (module, Wi-Fi/MCU firmware, schema).
 */
export async function inventoryStockView(
  kv: Deno.Kv,
  units: Unit[],
): Promise<Map<string, { productKey: string | null; differs: string[] }>> {
  const configs = await stockConfigsForUnits(kv, units);
  const byPk = new Map<string, { id: string; fp: StockFingerprint }[]>();
  const out = new Map<string, { productKey: string | null; differs: string[] }>();
  for (const [id, c] of configs) {
    if (c.status !== "found") continue;
    const pk = c.fingerprint.productKey;
    out.set(id, { productKey: pk, differs: [] });
    const key = pk ?? "(none)";
    byPk.set(key, [...(byPk.get(key) ?? []), { id, fp: c.fingerprint }]);
  }
  for (const group of byPk.values()) {
    for (const o of findOutliers(group).outliers) out.get(o.id)!.differs = o.differs;
  }
  return out;
}

/** Batch ids that uploaded backups, most recent first. */
export async function recentStockBatches(kv: Deno.Kv, limit = 5): Promise<string[]> {
  const last = new Map<string, number>();
  for await (const e of kv.list<{ at: number }>({ prefix: ["stock_config_batch"] })) {
    const id = e.key[1] as string;
    last.set(id, Math.max(last.get(id) ?? 0, e.value.at));
  }
  return [...last].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([id]) => id);
}
