/**
 * Content-addressed blob storage in Deno KV: firmware images, 2 MB flash
 * backups. A blob is stored once per sha256, split into chunks below KV's
 * 64 KiB value limit.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["blob_chunk", sha256, index]  -> Uint8Array (<= BLOB_CHUNK_SIZE bytes)
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
): Promise<BlobMeta & { existed: boolean }> {
  const sha256 = await sha256Hex(bytes);
  const existing = await getBlobMeta(kv, sha256);
  if (existing) return { ...existing, existed: true };
  const chunks = Math.ceil(bytes.length / BLOB_CHUNK_SIZE);
  for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
    const op = kv.atomic();
    for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
      op.set(["blob_chunk", sha256, i], bytes.slice(i * BLOB_CHUNK_SIZE, (i + 1) * BLOB_CHUNK_SIZE));
    }
    const res = await op.commit();
    if (!res.ok) throw new Error("blob chunk commit failed");
  }
  const meta: BlobMeta = { sha256, size: bytes.length, chunks, chunkSize: BLOB_CHUNK_SIZE, createdAt: now };
  // a concurrent writer of the same content may have finished first: that is fine
  await kv.atomic().check({ key: ["blob_meta", sha256], versionstamp: null }).set(["blob_meta", sha256], meta).commit();
  const stored = (await getBlobMeta(kv, sha256))!;
  return { ...stored, existed: false };
}

export async function getBlobMeta(kv: Deno.Kv, sha256: string): Promise<BlobMeta | null> {
  if (!SHA256_HEX.test(sha256)) return null;
  return (await kv.get<BlobMeta>(["blob_meta", sha256])).value;
}

/** The whole blob in memory, verified against its hash; null when absent or incomplete. */
export async function getBlob(kv: Deno.Kv, sha256: string): Promise<Uint8Array | null> {
  const meta = await getBlobMeta(kv, sha256);
  if (!meta) return null;
  const out = new Uint8Array(meta.size);
  let off = 0;
  for await (const part of readBlobChunks(kv, meta)) {
    out.set(part, off);
    off += part.length;
  }
  if (off !== meta.size || await sha256Hex(out) !== sha256) throw new Error(`blob ${sha256} is corrupt in KV`);
  return out;
}

async function* readBlobChunks(kv: Deno.Kv, meta: BlobMeta): AsyncGenerator<Uint8Array> {
  let expected = 0;
  for await (const e of kv.list<Uint8Array>({ prefix: ["blob_chunk", meta.sha256] }, { batchSize: 8 })) {
    if (e.key[2] !== expected) throw new Error(`blob ${meta.sha256} misses chunk ${expected}`);
    expected++;
    yield e.value;
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
  hooks: { onDone?: () => void; onCancel?: () => void } = {},
): Promise<{ meta: BlobMeta; stream: ReadableStream<Uint8Array> } | null> {
  const meta = await getBlobMeta(kv, sha256);
  if (!meta) return null;
  const iter = readBlobChunks(kv, meta);
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
  const keys: Deno.KvKey[] = [];
  for await (const e of kv.list({ prefix: ["blob_chunk", sha256] })) keys.push(e.key);
  for (let i = 0; i < keys.length; i += 500) {
    const op = kv.atomic();
    for (const k of keys.slice(i, i + 500)) op.delete(k);
    await op.commit();
  }
}
