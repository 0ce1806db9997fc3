/**
 * Bulk reads and writes over Deno KV within its per-call limits (getMany: 10
 * keys; an atomic commit: 1000 mutations, 800 KiB). Used by every data module
 * that reads or writes many keys at once, so the limits live in one place.
 */
import { commitRetryingLocks } from "./retry.ts";

/** getMany for any number of keys (10 per call, the calls concurrent), in the order given. */
export async function getManyChunked<T>(kv: Deno.Kv, keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
  const chunks: Deno.KvKey[][] = [];
  for (let i = 0; i < keys.length; i += 10) chunks.push(keys.slice(i, i + 10));
  return (await Promise.all(chunks.map((c) => kv.getMany<T[]>(c)))).flat();
}

export interface BulkWrite {
  key: Deno.KvKey;
  /** absent: delete the key */
  value?: Uint8Array;
}

/**
 * Sets and deletes without checks, in commits of at most `maxMutations` and
 * about `maxBytes`. Well under KV's limits by default: one SQLite transaction
 * runs at a time, and ingest commits wait behind a long one.
 */
export async function commitInChunks(
  kv: Deno.Kv,
  writes: BulkWrite[],
  maxMutations = 250,
  maxBytes = 400_000,
): Promise<void> {
  let op = kv.atomic(), n = 0, bytes = 0;
  for (const w of writes) {
    const size = (w.value?.byteLength ?? 0) + 100;
    if (n > 0 && (n >= maxMutations || bytes + size > maxBytes)) {
      await commitRetryingLocks(op);
      op = kv.atomic();
      n = bytes = 0;
    }
    if (w.value) op.set(w.key, w.value);
    else op.delete(w.key);
    n++;
    bytes += size;
  }
  if (n > 0) await commitRetryingLocks(op);
}

/** Delete every key in [start, end); returns how many. */
export async function deleteRange(kv: Deno.Kv, start: Deno.KvKey, end: Deno.KvKey): Promise<number> {
  let deleted = 0;
  let keys: BulkWrite[] = [];
  for await (const e of kv.list({ start, end }, { batchSize: 500 })) {
    keys.push({ key: e.key });
    if (keys.length === 500) {
      await commitInChunks(kv, keys);
      deleted += keys.length;
      keys = [];
    }
  }
  await commitInChunks(kv, keys);
  return deleted + keys.length;
}
