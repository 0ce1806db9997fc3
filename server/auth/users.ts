/**
 * Users and their sessions over Deno KV.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["users", username]                  -> UserRecord
 *   ["auth_sessions", sha256(token)]     -> SessionRecord   (expires)
 *   ["auth_login_failures", username, address] -> Deno.KvU64 (expires: lockout window)
 *   ["auth_login_failures_addr", address]      -> Deno.KvU64 (expires: lockout window)
 *
 * A session stores only the user name: role and disabled flag are read from the
 * user record on every request, so a role change or a disabled user takes effect at once.
 */
import { z } from "zod";
import { hashPassword, randomSecret, sha256Hex, verifyPassword } from "./crypto.ts";
import { commitRetryingLocks, CONFLICT, untilCommitted } from "../kv/retry.ts";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = typeof ROLES[number];
export const USERNAME = /^[a-z0-9][a-z0-9_.-]{0,31}$/;

export const roleRank = (r: Role) => ROLES.indexOf(r);

export interface UserRecord {
  username: string;
  role: Role;
  /** argon2id PHC string; a value that is not one (e.g. "!") can never sign in by password */
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
  /** when the first-start bootstrap created this user (its one-time password is still unused) */
  bootstrap?: boolean;
  /** signed in with a one-time password: nothing but choosing a new password until then */
  mustChangePassword?: boolean;
}

export interface SessionRecord {
  username: string;
  csrf: string;
  createdAt: number;
}

export const SESSION_TTL_MS = 12 * 3600_000;
/**
 * Sign-in lockout: `failures` wrong passwords for one account from one address lock that
 * pair (so a stranger's guesses do not lock the admin out everywhere); `addressFailures`
 * wrong passwords from one address, whatever the accounts, lock that address.
 */
export const LOGIN_LOCK = { failures: 10, addressFailures: 30, windowMs: 15 * 60_000 };

export const newUserSchema = z.object({
  username: z.string().regex(USERNAME, "user name: 1-32 of a-z 0-9 _ . - (starting with a letter or digit)"),
  role: z.enum(ROLES),
  password: z.string().min(12, "password: at least 12 characters").max(256),
}).strict();

export async function createUser(
  kv: Deno.Kv,
  u: { username: string; role: Role; password?: string; passwordHash?: string; bootstrap?: boolean },
  now = Date.now(),
): Promise<UserRecord | null> {
  if (!USERNAME.test(u.username)) throw new Error("invalid user name");
  const passwordHash = u.passwordHash ?? await hashPassword(u.password ?? randomSecret());
  const rec: UserRecord = {
    username: u.username,
    role: u.role,
    passwordHash,
    disabled: false,
    createdAt: now,
    ...(u.bootstrap ? { bootstrap: true } : {}),
  };
  const res = await commitRetryingLocks(
    kv.atomic().check({ key: ["users", u.username], versionstamp: null }).set(["users", u.username], rec),
  );
  return res.ok ? rec : null;
}

export async function getUser(kv: Deno.Kv, username: string): Promise<UserRecord | null> {
  if (!USERNAME.test(username)) return null;
  return (await kv.get<UserRecord>(["users", username])).value;
}

export async function listUsers(kv: Deno.Kv): Promise<UserRecord[]> {
  const out: UserRecord[] = [];
  for await (const e of kv.list<UserRecord>({ prefix: ["users"] })) out.push(e.value);
  return out;
}

export async function countUsers(kv: Deno.Kv): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix: ["users"] }, { limit: 1 })) n++;
  return n;
}

async function updateUser(
  kv: Deno.Kv,
  username: string,
  fn: (u: UserRecord) => UserRecord,
): Promise<UserRecord | null> {
  return await untilCommitted(`user ${username}`, async () => {
    const cur = await kv.get<UserRecord>(["users", username]);
    if (!cur.value) return null;
    const next = fn(cur.value);
    return (await commitRetryingLocks(kv.atomic().check(cur).set(["users", username], next))).ok ? next : CONFLICT;
  });
}

export async function setRole(kv: Deno.Kv, username: string, role: Role) {
  return await updateUser(kv, username, (u) => ({ ...u, role }));
}

export async function setDisabled(kv: Deno.Kv, username: string, disabled: boolean) {
  const u = await updateUser(kv, username, (u) => ({ ...u, disabled }));
  if (disabled) await deleteSessionsOf(kv, username);
  return u;
}

export async function setPassword(kv: Deno.Kv, username: string, password: string) {
  const passwordHash = await hashPassword(password);
  const u = await updateUser(
    kv,
    username,
    (u) => ({ ...u, passwordHash, bootstrap: undefined, mustChangePassword: undefined }),
  );
  await deleteSessionsOf(kv, username);
  return u;
}

const failKey = (username: string, address: string): Deno.KvKey => ["auth_login_failures", username, address];
const addrKey = (address: string): Deno.KvKey => ["auth_login_failures_addr", address];

async function count(kv: Deno.Kv, key: Deno.KvKey): Promise<number> {
  return Number((await kv.get<Deno.KvU64>(key)).value?.value ?? 0n);
}

async function countFailure(kv: Deno.Kv, key: Deno.KvKey) {
  await commitRetryingLocks(kv.atomic().sum(key, 1n));
  // expireIn cannot go with sum; re-set with expiry keeps the window bounded
  const cur = await kv.get<Deno.KvU64>(key);
  if (cur.value) await kv.set(cur.key, cur.value, { expireIn: LOGIN_LOCK.windowMs });
}

/**
 * Check a password from `address`; counts failures per account+address and per address,
 * and refuses without checking once either is over its limit. Callers run attempts for
 * one account or one address one at a time (server/auth/login_gate.ts), so every attempt
 * sees the failures before it. A success clears only its own account+address count.
 * The first-start one-time password is consumed by its first successful use.
 */
export async function checkLogin(
  kv: Deno.Kv,
  username: string,
  password: string,
  address = "local",
): Promise<{ ok: true; user: UserRecord } | { ok: false; reason: "bad_credentials" | "locked" }> {
  const named = USERNAME.test(username);
  const addr = address.slice(0, 64);
  if (await count(kv, addrKey(addr)) >= LOGIN_LOCK.addressFailures) return { ok: false, reason: "locked" };
  if (named && await count(kv, failKey(username, addr)) >= LOGIN_LOCK.failures) return { ok: false, reason: "locked" };
  const user = await getUser(kv, username);
  // verify against a dummy hash when the user does not exist, so timing does not tell names apart
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
  if (!ok || !user || user.disabled) {
    if (named) await countFailure(kv, failKey(username, addr));
    await countFailure(kv, addrKey(addr));
    return { ok: false, reason: "bad_credentials" };
  }
  if (user.bootstrap) {
    // the one-time password works once: it is replaced by an unusable hash in the same check-and-set
    const cur = await kv.get<UserRecord>(["users", username]);
    if (!cur.value?.bootstrap || cur.value.passwordHash !== user.passwordHash) {
      return { ok: false, reason: "bad_credentials" };
    }
    const used: UserRecord = { ...cur.value, passwordHash: "!used", bootstrap: undefined, mustChangePassword: true };
    if (!(await commitRetryingLocks(kv.atomic().check(cur).set(cur.key, used))).ok) {
      return { ok: false, reason: "bad_credentials" };
    }
    await kv.delete(failKey(username, addr));
    return { ok: true, user: used };
  }
  await kv.delete(failKey(username, addr));
  return { ok: true, user };
}

/** Admin override: forget failed sign-ins of an account (every address) and/or of an address. */
export async function clearLoginFailures(
  kv: Deno.Kv,
  opts: { username?: string; address?: string },
): Promise<number> {
  let n = 0;
  const del = async (key: Deno.KvKey) => {
    await kv.delete(key);
    n++;
  };
  if (opts.username) {
    for await (const e of kv.list({ prefix: ["auth_login_failures", opts.username] })) {
      if (!opts.address || e.key[2] === opts.address) await del(e.key);
    }
  }
  if (opts.address) {
    if ((await kv.get(addrKey(opts.address))).value) await del(addrKey(opts.address));
    if (!opts.username) {
      for await (const e of kv.list({ prefix: ["auth_login_failures"] })) {
        if (e.key[2] === opts.address) await del(e.key);
      }
    }
  }
  return n;
}

/** Current lockouts (for the admin page): account+address pairs and addresses at or over their limit. */
export async function listLockouts(
  kv: Deno.Kv,
): Promise<{ username: string | null; address: string; failures: number }[]> {
  const out: { username: string | null; address: string; failures: number }[] = [];
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["auth_login_failures"] })) {
    const n = Number(e.value.value);
    if (n >= LOGIN_LOCK.failures) out.push({ username: String(e.key[1]), address: String(e.key[2]), failures: n });
  }
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["auth_login_failures_addr"] })) {
    const n = Number(e.value.value);
    if (n >= LOGIN_LOCK.addressFailures) out.push({ username: null, address: String(e.key[1]), failures: n });
  }
  return out;
}
const DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yQnQ2pWm0Zq0cE2lJm2CkS1vQ8m4yAqj3Gk2n5J1k0s";

export async function createSession(
  kv: Deno.Kv,
  username: string,
  now = Date.now(),
): Promise<{ token: string; csrf: string }> {
  const token = randomSecret(32);
  const csrf = randomSecret(24);
  const rec: SessionRecord = { username, csrf, createdAt: now };
  const h = await sha256Hex(token);
  await commitRetryingLocks(
    kv.atomic()
      .set(["auth_sessions", h], rec, { expireIn: SESSION_TTL_MS })
      .set(["auth_sessions_by_user", username, h], true, { expireIn: SESSION_TTL_MS }),
  );
  return { token, csrf };
}

/** The session and its (current) user, or null when expired, unknown, or the user is gone/disabled. */
export async function getSession(
  kv: Deno.Kv,
  token: string,
  now = Date.now(),
): Promise<{ session: SessionRecord; user: UserRecord } | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const s = (await kv.get<SessionRecord>(["auth_sessions", await sha256Hex(token)])).value;
  if (!s || now - s.createdAt > SESSION_TTL_MS) return null;
  const user = await getUser(kv, s.username);
  if (!user || user.disabled) return null;
  return { session: s, user };
}

export async function deleteSession(kv: Deno.Kv, token: string) {
  const h = await sha256Hex(token);
  const s = (await kv.get<SessionRecord>(["auth_sessions", h])).value;
  const op = kv.atomic().delete(["auth_sessions", h]);
  if (s) op.delete(["auth_sessions_by_user", s.username, h]);
  await commitRetryingLocks(op);
}

export async function deleteSessionsOf(kv: Deno.Kv, username: string) {
  for await (const e of kv.list({ prefix: ["auth_sessions_by_user", username] })) {
    const h = e.key[2] as string;
    await commitRetryingLocks(kv.atomic().delete(["auth_sessions", h]).delete(e.key));
  }
}
