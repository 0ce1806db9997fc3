/**
 * SQLite-backed KV shared by two server instances (one file) can answer
 * "database is locked" under write contention: that is a transient failure,
 * retried like a lost optimistic race, not a reason to drop the work.
 */
export async function commitRetryingLocks(
  op: Deno.AtomicOperation,
  attempts = 20,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  for (let i = 1;; i++) {
    try {
      return await op.commit();
    } catch (e) {
      if (i >= attempts || !/database is locked|busy/i.test(String((e as Error)?.message))) throw e;
      await new Promise((r) => setTimeout(r, Math.min(100, 2 * i) + Math.random() * 5));
    }
  }
}
