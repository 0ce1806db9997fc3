/**
 * Is the KV file readable? Deno KV exposes no SQLite integrity check, and a damaged
 * page only fails the read that touches it ("database disk image is malformed"):
 * a sentinel read/write still succeeds while whole ranges of data are lost. So the
 * check reads every entry, in batches, and remembers the first error. A full scan
 * costs one pass over the file; it runs at start and then every KV_CHECK_MS.
 *
 * Keys (this module owns them):
 *   ["kv_check", instanceId] -> { at }   (the sentinel: written and read back on every health call)
 */
export interface KvScan {
  ok: boolean;
  at: number;
  entries: number;
  ms: number;
  error?: string;
}

/** Read every entry once; stops at the first read error, or (unfinished, not failed) when `signal` aborts. */
export async function scanKv(kv: Deno.Kv, now = Date.now(), signal?: AbortSignal): Promise<KvScan> {
  const t0 = performance.now();
  let entries = 0;
  try {
    for await (const _ of kv.list({ prefix: [] }, { batchSize: 500 })) {
      entries++;
      if (signal?.aborted) break; // shutting down: a large file's scan must not hold the stop up
    }
    return { ok: true, at: now, entries, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    return { ok: false, at: now, entries, ms: Math.round(performance.now() - t0), error: (e as Error).message };
  }
}

/** Write a sentinel and read it back: KV answers and accepts writes. */
export async function kvSentinel(kv: Deno.Kv, instanceId: string, now = Date.now()): Promise<string | null> {
  try {
    await kv.set(["kv_check", instanceId], { at: now }, { expireIn: 24 * 3600_000 });
    const back = (await kv.get<{ at: number }>(["kv_check", instanceId])).value;
    return back?.at === now ? null : "sentinel did not read back";
  } catch (e) {
    return (e as Error).message;
  }
}
