/**
 * Bench flashing records: which backups exist (the bytes live in the
 * content-addressed blob store, server/kv/blobs.ts — one copy per sha256 no
 * matter how often a unit is backed up), and the live progress of flash
 * batches (one record per batch, rewritten by the agent about once a second).
 * Units themselves are registered in the inventory (server/inventory/units.ts).
 *
 * Backups are private data (a customer's Wi-Fi password, Tuya keys): their blobs are
 * sealed with the server's backup key and flagged as backups (server/kv/blobs.ts), and
 * a bench agent reaches only the backups it uploaded itself.
 *
 * Keys (this module owns them):
 *   ["flash_backup", sha256]                      -> FlashBackup
 *   ["flash_backups_by_mac", mac, sha256]         -> true
 *   ["flash_backups_by_agent", agentId, sha256]   -> true   (every agent that uploaded these bytes)
 *   ["flash_upload", agentId, sha256, uploadId, n] -> Uint8Array   (a sealed staged part of one upload; expires)
 *   ["flash_batch", batchId]                      -> FlashBatch   (expires after BATCH_TTL_MS)
 *
 * Staging is keyed per upload (the agent names it after job, port and attempt):
 * three ports backing up identical images upload side by side, and one
 * upload's commit deletes only its own parts.
 */
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import { identifyBackup } from "../../shared/bk7231/mod.ts";
import { type BlobKey, getBlob, getBlobMeta, putBlob, sealBackupBlob, sealBytes, unsealBytes } from "../kv/blobs.ts";

export interface FlashBackup {
  sha256: string;
  size: number;
  chip: string;
  mac: string | null;
  flashId: string | null;
  benchHost: string | null;
  agentId: string;
  port: string | null;
  /** first time this content arrived */
  at: number;
  /** how many times a bench sent it (a re-backup of an unchanged unit) */
  seen: number;
}

import type { FlashBatch, PortProgress as FlashBatchRow } from "../../shared/flash-progress.ts";
export type { FlashBatch, FlashBatchRow };

export const BATCH_TTL_MS = 7 * 24 * 3600_000;

/**
 * Store a verified backup: bytes into the blob store (skipped when the sha256
 * is already there), the record created or its `seen` count bumped.
 */
export async function storeBackup(
  kv: Deno.Kv,
  key: BlobKey,
  bytes: Uint8Array,
  meta: Omit<FlashBackup, "at" | "seen" | "size" | "sha256">,
  now = Date.now(),
): Promise<{ backup: FlashBackup; existed: boolean }> {
  const blob = await putBlob(kv, bytes, now, { backupKey: key });
  return await untilCommitted("backup record", async () => {
    const cur = await kv.get<FlashBackup>(["flash_backup", blob.sha256]);
    const backup: FlashBackup = cur.value
      ? { ...cur.value, seen: cur.value.seen + 1 }
      : { ...meta, sha256: blob.sha256, size: blob.size, at: now, seen: 1 };
    const op = kv.atomic().check(cur).set(["flash_backup", blob.sha256], backup);
    if (backup.mac) op.set(["flash_backups_by_mac", backup.mac, blob.sha256], true);
    op.set(["flash_backups_by_agent", meta.agentId, blob.sha256], true);
    return (await op.commit()).ok ? { backup, existed: cur.value !== null } : CONFLICT;
  });
}

export async function getBackup(kv: Deno.Kv, sha256: string): Promise<FlashBackup | null> {
  return (await kv.get<FlashBackup>(["flash_backup", sha256])).value;
}

export async function backupExists(kv: Deno.Kv, sha256: string): Promise<boolean> {
  return (await getBlobMeta(kv, sha256)) !== null && (await getBackup(kv, sha256)) !== null;
}

/** A backup's bytes (unsealed with `key`); null when there is no such backup. */
export async function getBackupBytes(kv: Deno.Kv, key: BlobKey, sha256: string): Promise<Uint8Array | null> {
  return (await getBackup(kv, sha256)) ? await getBlob(kv, sha256, key) : null;
}

/** Did this agent upload this backup itself? (Only then may it fetch it back, or speak for the unit.) */
export async function agentHasBackup(kv: Deno.Kv, agentId: string, sha256: string): Promise<boolean> {
  return (await kv.get(["flash_backups_by_agent", agentId, sha256])).value === true;
}

/**
 * Start-up migration for backups stored before they were sealed: seal their blobs (which
 * also flags them as backups) and index them under the agent that uploaded them. Returns
 * how many blobs were sealed.
 */
export async function sealLegacyBackups(kv: Deno.Kv, key: BlobKey): Promise<number> {
  let n = 0;
  for await (const e of kv.list<FlashBackup>({ prefix: ["flash_backup"] })) {
    const b = e.value;
    if (!(await kv.get(["flash_backups_by_agent", b.agentId, b.sha256])).versionstamp) {
      await kv.set(["flash_backups_by_agent", b.agentId, b.sha256], true);
    }
    const meta = await getBlobMeta(kv, b.sha256);
    if (meta && !meta.sealed) {
      await sealBackupBlob(kv, b.sha256, key);
      n++;
    }
  }
  return n;
}

export async function listBackupsForMac(kv: Deno.Kv, mac: string): Promise<FlashBackup[]> {
  const out: FlashBackup[] = [];
  for await (const e of kv.list({ prefix: ["flash_backups_by_mac", mac] })) {
    const b = await getBackup(kv, e.key[2] as string);
    if (b) out.push(b);
  }
  return out.sort((a, b) => a.at - b.at);
}

/** A full flash backup is the whole 2 MiB chip; anything else proves nothing about a unit. */
export const FULL_BACKUP_BYTES = 0x200000;

/**
 * The backups of `mac` that this agent's bench really took: sent by this agent, stored
 * here, the full 2 MiB, and the MAC read from the image at the chip's MAC location (the
 * TLV sector) is `mac`, on the chip the record names. A declared MAC, a 1-byte "backup" or
 * another bench's backup does not count. Returns the proven backups, oldest first.
 */
export async function provenBackupsOf(
  kv: Deno.Kv,
  key: BlobKey,
  agentId: string,
  mac: string,
): Promise<FlashBackup[]> {
  const out: FlashBackup[] = [];
  for (const b of await listBackupsForMac(kv, mac)) {
    if (b.size !== FULL_BACKUP_BYTES || !(await agentHasBackup(kv, agentId, b.sha256))) continue;
    const bytes = await getBlob(kv, b.sha256, key);
    if (!bytes || bytes.length !== FULL_BACKUP_BYTES) continue;
    const id = identifyBackup(bytes);
    if (id.mac !== mac || !id.chip || id.chip !== b.chip.toLowerCase()) continue;
    out.push(b);
  }
  return out;
}

// ---------------------------------------------------------------- staging of uploads

export const UPLOAD_ID = /^[A-Za-z0-9_.~-]{1,120}$/;
const STAGE_TTL_MS = 24 * 3600_000;

type Upload = { agentId: string; sha256: string; uploadId: string };
const partContext = (up: Upload, n: number) => `meterfleet-upload:${up.agentId}:${up.sha256}:${up.uploadId}:${n}`;

/** Stage one part, sealed: a deleted KV value's page keeps its bytes until reused. */
export async function stagePart(kv: Deno.Kv, key: BlobKey, up: Upload, n: number, bytes: Uint8Array) {
  const sealed = await sealBytes(key, partContext(up, n), bytes);
  await kv.set(["flash_upload", up.agentId, up.sha256, up.uploadId, n], sealed, { expireIn: STAGE_TTL_MS });
}

export async function stagedParts(
  kv: Deno.Kv,
  up: { agentId: string; sha256: string; uploadId: string },
): Promise<number[]> {
  const parts: number[] = [];
  for await (const e of kv.list({ prefix: ["flash_upload", up.agentId, up.sha256, up.uploadId] })) {
    parts.push(e.key[4] as number);
  }
  return parts;
}

/** Join one upload's parts; a missing part or a size mismatch is an error naming it. */
export async function assembleUpload(
  kv: Deno.Kv,
  key: BlobKey,
  up: Upload,
  parts: number,
  size: number,
): Promise<{ bytes: Uint8Array } | { error: string; status: 400 | 409 }> {
  const bytes = new Uint8Array(size);
  let off = 0;
  for (let i = 0; i < parts; i++) {
    const stored = (await kv.get<Uint8Array>(["flash_upload", up.agentId, up.sha256, up.uploadId, i])).value;
    const part = stored && await unsealBytes(key, partContext(up, i), stored);
    if (!part) return { error: `part ${i} missing`, status: 409 };
    if (off + part.length > size) return { error: "parts exceed the declared size", status: 400 };
    bytes.set(part, off);
    off += part.length;
  }
  if (off !== size) return { error: `parts hold ${off} bytes, declared ${size}`, status: 400 };
  return { bytes };
}

/** Drop this upload's parts (and only this upload's). */
export async function clearUpload(kv: Deno.Kv, up: { agentId: string; sha256: string; uploadId: string }) {
  const keys: Deno.KvKey[] = [];
  for await (const e of kv.list({ prefix: ["flash_upload", up.agentId, up.sha256, up.uploadId] })) keys.push(e.key);
  for (let i = 0; i < keys.length; i += 500) {
    const op = kv.atomic();
    for (const k of keys.slice(i, i + 500)) op.delete(k);
    await op.commit();
  }
}

export async function putBatchProgress(
  kv: Deno.Kv,
  batchId: string,
  agentId: string,
  rows: FlashBatchRow[],
  now = Date.now(),
) {
  const cur = (await kv.get<FlashBatch>(["flash_batch", batchId])).value;
  if (cur && cur.agentId !== agentId) throw new Error(`batch ${batchId} belongs to another agent`);
  const batch: FlashBatch = { batchId, agentId, rows, startedAt: cur?.startedAt ?? now, updatedAt: now };
  await kv.set(["flash_batch", batchId], batch, { expireIn: BATCH_TTL_MS });
  return batch;
}

/** Most recently updated first. */
export async function listBatches(kv: Deno.Kv, limit = 20): Promise<FlashBatch[]> {
  const all: FlashBatch[] = [];
  for await (const e of kv.list<FlashBatch>({ prefix: ["flash_batch"] })) all.push(e.value);
  return all.sort((a, b) => b.updatedAt - a.updatedAt).slice(0, limit);
}
