/**
 * Users and their sessions over Deno KV.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["users", username]                  -> UserRecord
 *   ["auth_sessions", sha256(token)]     -> SessionRecord   (expires)
 *   ["auth_login_failures", username]    -> Deno.KvU64      (expires: lockout window)
 *
 * A session stores only the user name: role and disabled flag are read from the
 * user record on every request, so a role change or a disabled user takes effect at once.
 */
import { z } from "zod";
import { hashPassword, randomSecret, sha256Hex, verifyPassword } from "../auth/crypto.ts";
import { commitRetryingLocks } from "./kv_retry.ts";

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
  /** when the first-start bootstrap created this user */
  bootstrap?: boolean;
}

export interface SessionRecord {
  username: string;
  csrf: string;
  createdAt: number;
}

export const SESSION_TTL_MS = 12 * 3600_000;
export const LOGIN_LOCK = { failures: 10, windowMs: 15 * 60_000 };

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
  for (let i = 0; i < 10; i++) {
    const cur = await kv.get<UserRecord>(["users", username]);
    if (!cur.value) return null;
    const next = fn(cur.value);
    if ((await commitRetryingLocks(kv.atomic().check(cur).set(["users", username], next))).ok) return next;
  }
  throw new Error("user update kept conflicting");
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
  const u = await updateUser(kv, username, (u) => ({ ...u, passwordHash, bootstrap: undefined }));
  await deleteSessionsOf(kv, username);
  return u;
}

/** Check a password; counts failures and locks the account for a while after too many. */
export async function checkLogin(
  kv: Deno.Kv,
  username: string,
  password: string,
): Promise<{ ok: true; user: UserRecord } | { ok: false; reason: "bad_credentials" | "locked" }> {
  const user = await getUser(kv, username);
  const fails = USERNAME.test(username)
    ? Number((await kv.get<Deno.KvU64>(["auth_login_failures", username])).value?.value ?? 0n)
    : 0;
  if (fails >= LOGIN_LOCK.failures) return { ok: false, reason: "locked" };
  // verify against a dummy hash when the user does not exist, so timing does not tell names apart
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
  if (!ok || !user || user.disabled) {
    if (USERNAME.test(username)) {
      await commitRetryingLocks(kv.atomic().sum(["auth_login_failures", username], 1n));
      // expireIn cannot go with sum; re-set with expiry keeps the window bounded
      const cur = await kv.get<Deno.KvU64>(["auth_login_failures", username]);
      if (cur.value) await kv.set(cur.key, cur.value, { expireIn: LOGIN_LOCK.windowMs });
    }
    return { ok: false, reason: "bad_credentials" };
  }
  await kv.delete(["auth_login_failures", username]);
  return { ok: true, user };
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
