/**
 * SQLite-backed KV shared by two server instances (one file) can answer
 * "database is locked" under write contention: that is a transient failure,
 * retried like a lost optimistic race, not a reason to drop the work.
 */
import { DomainError } from "../http/errors.ts";

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

/** How often a read-check-commit is redone when another writer committed first. */
export const CONFLICT_ATTEMPTS = 20;
/** What an attempt returns when its versionstamp check failed: read again and redo. */
export const CONFLICT: unique symbol = Symbol("conflict: read again");

/**
 * The one optimistic-concurrency loop: run `attempt` (read, decide, commit with a check) until it returns a
 * result instead of CONFLICT; past the limit the caller gets a "conflict" DomainError (409), never a lost write.
 */
export async function untilCommitted<T>(
  what: string,
  attempt: (n: number) => Promise<T | typeof CONFLICT>,
  attempts = CONFLICT_ATTEMPTS,
): Promise<T> {
  for (let n = 0; n < attempts; n++) {
    const r = await attempt(n);
    if (r !== CONFLICT) return r;
  }
  throw new DomainError("conflict", `${what}: too much contention, try again`);
}
