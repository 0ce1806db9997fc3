/**
 * Content-addressed blob storage in Deno KV: firmware images, 2 MB flash
 * backups. A blob is stored once per sha256, split into chunks below KV's
 * 64 KiB value limit.
 *
 * Backups hold a customer's Wi-Fi password and Tuya keys: they are stored
 * sealed (AES-256-GCM per chunk, with a key kept outside KV, see
 * server/auth/backup_key.ts) and flagged `kind: "backup"`. Plain readers
 * (getBlob, openBlobStream without a key) never return a sealed blob, and
 * `isBackupBlob` lets a download path refuse a backup by its sha256.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["blob_chunk", sha256, index]  -> Uint8Array (<= BLOB_CHUNK_SIZE bytes)
 *   ["blob_sealed", sha256, index] -> Uint8Array (12-byte IV + AES-GCM ciphertext and tag of one chunk)
 *   ["blob_meta", sha256]          -> BlobMeta   (written LAST, after every chunk)
 *
 * Why meta last: chunks are written over several atomic commits (800 KiB per
 * commit), so a crash can leave chunks without meta. Readers only trust
 * ["blob_meta"], so a half-written blob is never visible as complete; a retry
 * of the same bytes simply overwrites the orphan chunks with identical data.
 */
import { encodeHex } from "@std/encoding/hex";

/** 60,000 bytes: under the 65,536-byte value limit with room for KV's own encoding. */
export const BLOB_CHUNK_SIZE = 60_000;
/** 12 chunks × 60 KB = 720 KB per atomic commit, under the 800 KiB commit limit. */
const CHUNKS_PER_COMMIT = 12;

export interface BlobMeta {
  sha256: string;
  size: number;
  chunks: number;
  chunkSize: number;
  createdAt: number;
  /** "backup": a unit's flash backup (private data: never served by a firmware/OTA path) */
  kind?: "backup";
  /** sealed: chunks live under ["blob_sealed"], encrypted with the key of this id */
  sealed?: { alg: "AES-256-GCM"; keyId: string };
}

/** The key backups are sealed with; `id` names it (a wrong key is reported as such, not as corruption). */
export interface BlobKey {
  id: string;
  key: CryptoKey;
}

export class BlobKeyError extends Error {
  override name = "BlobKeyError";
}

const IV_BYTES = 12;

/**
 * AES-256-GCM with a fresh IV, bound to `context` (what the bytes are, where they go), so
 * sealed values cannot be swapped between keys unnoticed. Output: IV + ciphertext + tag.
 */
export async function sealBytes(key: BlobKey, context: string, plain: Uint8Array): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(context) },
      key.key,
      plain as Uint8Array<ArrayBuffer>,
    ),
  );
  const out = new Uint8Array(IV_BYTES + ct.length);
  out.set(iv);
  out.set(ct, IV_BYTES);
  return out;
}

/** The plain bytes, or null when they do not decrypt (wrong key, wrong context, damaged). */
export async function unsealBytes(key: BlobKey, context: string, stored: Uint8Array): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: stored.subarray(0, IV_BYTES) as Uint8Array<ArrayBuffer>,
          additionalData: new TextEncoder().encode(context),
        },
        key.key,
        stored.subarray(IV_BYTES) as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch {
    return null;
  }
}

const chunkContext = (sha256: string, index: number) => `meterfleet-blob:${sha256}:${index}`;
const seal = (key: BlobKey, sha256: string, index: number, plain: Uint8Array) =>
  sealBytes(key, chunkContext(sha256, index), plain);

async function unseal(key: BlobKey, sha256: string, index: number, stored: Uint8Array): Promise<Uint8Array> {
  const plain = await unsealBytes(key, chunkContext(sha256, index), stored);
  if (!plain) throw new Error(`blob ${sha256} chunk ${index} does not decrypt: corrupt in KV`);
  return plain;
}

/** Is this sha256 a stored backup? Download paths for firmware refuse those. */
export async function isBackupBlob(kv: Deno.Kv, sha256: string): Promise<boolean> {
  return (await getBlobMeta(kv, sha256))?.kind === "backup";
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)));
}

/**
 * Store bytes (idempotent): returns the existing meta when this content is
 * already stored, so every caller may simply put what it has.
 */
export async function putBlob(
  kv: Deno.Kv,
  bytes: Uint8Array,
  now = Date.now(),
  opts: { backupKey?: BlobKey } = {},
): Promise<BlobMeta & { existed: boolean }> {
  const sha256 = await sha256Hex(bytes);
  const existing = await getBlobMeta(kv, sha256);
  if (existing) {
    // the same bytes stored plain before (e.g. a backup from before sealing): seal them now
    if (opts.backupKey && !existing.sealed) {
      return { ...await sealBackupBlob(kv, sha256, opts.backupKey), existed: true };
    }
    return { ...existing, existed: true };
  }
  const meta = await writeChunks(kv, sha256, bytes, now, opts.backupKey);
  // a concurrent writer of the same content may have finished first: that is fine
  await kv.atomic().check({ key: ["blob_meta", sha256], versionstamp: null }).set(["blob_meta", sha256], meta).commit();
  const stored = (await getBlobMeta(kv, sha256))!;
  return { ...stored, existed: false };
}

async function writeChunks(
  kv: Deno.Kv,
  sha256: string,
  bytes: Uint8Array,
  now: number,
  key?: BlobKey,
): Promise<BlobMeta> {
  const chunks = Math.ceil(bytes.length / BLOB_CHUNK_SIZE);
  for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
    const op = kv.atomic();
    for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
      const plain = bytes.slice(i * BLOB_CHUNK_SIZE, (i + 1) * BLOB_CHUNK_SIZE);
      if (key) op.set(["blob_sealed", sha256, i], await seal(key, sha256, i, plain));
      else op.set(["blob_chunk", sha256, i], plain);
    }
    const res = await op.commit();
    if (!res.ok) throw new Error("blob chunk commit failed");
  }
  return {
    sha256,
    size: bytes.length,
    chunks,
    chunkSize: BLOB_CHUNK_SIZE,
    createdAt: now,
    ...(key ? { kind: "backup" as const, sealed: { alg: "AES-256-GCM" as const, keyId: key.id } } : {}),
  };
}

/**
 * Seal a blob stored plain (a backup from before backups were encrypted), crash-safe:
 * sealed chunks first, then the meta switches over in one commit, then the plain
 * chunks go. Until the switch the plain blob stays whole; after it, only leftovers.
 */
export async function sealBackupBlob(kv: Deno.Kv, sha256: string, key: BlobKey): Promise<BlobMeta> {
  const cur = await kv.get<BlobMeta>(["blob_meta", sha256]);
  if (!cur.value) throw new Error(`no blob ${sha256}`);
  if (!cur.value.sealed) {
    const plain = await getBlob(kv, sha256);
    if (!plain) throw new Error(`blob ${sha256} vanished while sealing`);
    const meta = { ...await writeChunks(kv, sha256, plain, cur.value.createdAt, key) };
    const res = await kv.atomic().check(cur).set(cur.key, meta).commit();
    if (!res.ok) return await sealBackupBlob(kv, sha256, key);
  }
  await deleteChunks(kv, ["blob_chunk", sha256]);
  return (await getBlobMeta(kv, sha256))!;
}

async function deleteChunks(kv: Deno.Kv, prefix: Deno.KvKey) {
  const keys: Deno.KvKey[] = [];
  for await (const e of kv.list({ prefix })) keys.push(e.key);
  for (let i = 0; i < keys.length; i += 500) {
    const op = kv.atomic();
    for (const k of keys.slice(i, i + 500)) op.delete(k);
    await op.commit();
  }
}

export async function getBlobMeta(kv: Deno.Kv, sha256: string): Promise<BlobMeta | null> {
  if (!SHA256_HEX.test(sha256)) return null;
  return (await kv.get<BlobMeta>(["blob_meta", sha256])).value;
}

/**
 * The whole blob in memory, verified against its hash; null when absent or incomplete,
 * and null for a sealed backup unless its key is given.
 */
export async function getBlob(kv: Deno.Kv, sha256: string, key?: BlobKey): Promise<Uint8Array | null> {
  const meta = await getBlobMeta(kv, sha256);
  if (!meta || (meta.sealed && !key)) return null;
  const out = new Uint8Array(meta.size);
  let off = 0;
  for await (const part of readBlobChunks(kv, meta, key)) {
    out.set(part, off);
    off += part.length;
  }
  if (off !== meta.size || await sha256Hex(out) !== sha256) throw new Error(`blob ${sha256} is corrupt in KV`);
  return out;
}

async function* readBlobChunks(kv: Deno.Kv, meta: BlobMeta, key?: BlobKey): AsyncGenerator<Uint8Array> {
  if (meta.sealed && meta.sealed.keyId !== key?.id) {
    throw new BlobKeyError(
      `blob ${meta.sha256} is sealed with key ${meta.sealed.keyId}, not the configured ${key?.id ?? "(none)"}`,
    );
  }
  let expected = 0;
  const prefix = [meta.sealed ? "blob_sealed" : "blob_chunk", meta.sha256];
  for await (const e of kv.list<Uint8Array>({ prefix }, { batchSize: 8 })) {
    if (e.key[2] !== expected) throw new Error(`blob ${meta.sha256} misses chunk ${expected}`);
    expected++;
    yield meta.sealed ? await unseal(key!, meta.sha256, expected - 1, e.value) : e.value;
    if (expected === meta.chunks) return;
  }
  if (expected !== meta.chunks) throw new Error(`blob ${meta.sha256} misses chunk ${expected}`);
}

/**
 * Stream a blob chunk by chunk (for HTTP downloads of 2 MB images without
 * holding them in memory). `onProgress` sees bytes sent so far; `onDone`
 * fires when the consumer has read the last byte.
 */
export async function openBlobStream(
  kv: Deno.Kv,
  sha256: string,
  hooks: { onDone?: () => void; onCancel?: () => void; key?: BlobKey } = {},
): Promise<{ meta: BlobMeta; stream: ReadableStream<Uint8Array> } | null> {
  const meta = await getBlobMeta(kv, sha256);
  if (!meta || (meta.sealed && !hooks.key)) return null;
  const iter = readBlobChunks(kv, meta, hooks.key);
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iter.next();
      if (next.done) {
        controller.close();
        hooks.onDone?.();
      } else controller.enqueue(next.value);
    },
    async cancel() {
      await iter.return(undefined);
      hooks.onCancel?.();
    },
  });
  return { meta, stream };
}

/** Delete a blob: meta first, so it stops being visible before its chunks go. */
export async function deleteBlob(kv: Deno.Kv, sha256: string): Promise<void> {
  await kv.delete(["blob_meta", sha256]);
  await deleteChunks(kv, ["blob_chunk", sha256]);
  await deleteChunks(kv, ["blob_sealed", sha256]);
}
