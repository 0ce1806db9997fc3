/**
 * Leases over Deno KV: one server instance at a time does a job that must not
 * run twice at once (history compaction). A lease expires on its own, so an
 * instance that dies hands the job over after `ttlMs`.
 *
 * Keys (this module owns them):
 *   ["lease", name] -> { owner, until }
 */
import { commitRetryingLocks } from "./retry.ts";

interface Lease {
  owner: string;
  until: number;
}

/** Take or renew the lease; true when `owner` holds it until now + ttlMs. */
export async function holdLease(
  kv: Deno.Kv,
  name: string,
  owner: string,
  ttlMs: number,
  now = Date.now(),
): Promise<boolean> {
  const cur = await kv.get<Lease>(["lease", name]);
  if (cur.value && cur.value.owner !== owner && cur.value.until > now) return false;
  const res = await commitRetryingLocks(
    kv.atomic()
      .check(cur)
      .set(["lease", name], { owner, until: now + ttlMs } satisfies Lease, { expireIn: ttlMs }),
  );
  return res.ok;
}

/** Give the lease up (shutdown), so another instance need not wait for it to expire. */
export async function releaseLease(kv: Deno.Kv, name: string, owner: string): Promise<void> {
  const cur = await kv.get<Lease>(["lease", name]);
  if (cur.value?.owner === owner) await commitRetryingLocks(kv.atomic().check(cur).delete(["lease", name]));
}
