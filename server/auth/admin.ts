/**
 * What an admin can do to identities (shared by the JSON API and the admin page):
 * users, agent tokens, OpenBeken credentials. Revoking closes live MQTT connections
 * on this instance at once; other instances learn it through KV (auth_revocations).
 */
import { recordAudit } from "../kv/audit.ts";
import { DomainError } from "../http/errors.ts";
import type { ServerContext } from "../context.ts";
import {
  issueAgentToken,
  issueDeviceCredential,
  listAgentTokens,
  listDeviceCredentials,
  newAgentTokenSchema,
  newDeviceCredentialSchema,
  revokeAgentToken,
  revokeDeviceCredential,
} from "./tokens.ts";
import {
  clearLoginFailures,
  createUser,
  listLockouts,
  listUsers,
  newUserSchema,
  type Role,
  ROLES,
  setDisabled,
  setRole,
  USERNAME,
} from "./users.ts";
import { guardOf } from "./broker.ts";
import { z } from "zod";

const CODE_OF = { 400: "invalid", 404: "not_found", 409: "conflict" } as const;

export class AdminError extends DomainError {
  constructor(status: 400 | 404 | 409, message: string) {
    super(CODE_OF[status], message);
  }
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new AdminError(
      400,
      r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
    );
  }
  return r.data;
}

export const publicToken = (t: Awaited<ReturnType<typeof listAgentTokens>>[number]) => ({
  id: t.id,
  agentId: t.agentId,
  label: t.label,
  createdAt: t.createdAt,
  createdBy: t.createdBy,
  revokedAt: t.revokedAt,
});
export const publicDevice = (d: Awaited<ReturnType<typeof listDeviceCredentials>>[number]) => ({
  username: d.username,
  topics: d.topics,
  group: d.group,
  createdAt: d.createdAt,
  createdBy: d.createdBy,
  revokedAt: d.revokedAt,
});
export const publicUser = (u: Awaited<ReturnType<typeof listUsers>>[number]) => ({
  username: u.username,
  role: u.role,
  disabled: u.disabled,
  createdAt: u.createdAt,
});

export async function adminListing(ctx: ServerContext) {
  return {
    lockouts: await listLockouts(ctx.kv),
    users: (await listUsers(ctx.kv)).map(publicUser),
    tokens: (await listAgentTokens(ctx.kv)).map(publicToken),
    devices: (await listDeviceCredentials(ctx.kv)).map(publicDevice),
  };
}

export async function adminCreateUser(ctx: ServerContext, by: string, input: unknown) {
  const u = parse(newUserSchema, input);
  const rec = await createUser(ctx.kv, u);
  if (!rec) throw new AdminError(409, `user ${u.username} exists`);
  ctx.log.info("user created", { user: u.username, role: u.role, by });
  return publicUser(rec);
}

const userChange = z.object({
  role: z.enum(ROLES).optional(),
  disabled: z.boolean().optional(),
}).strict();

export async function adminChangeUser(ctx: ServerContext, by: string, username: string, input: unknown) {
  if (!USERNAME.test(username)) throw new AdminError(404, "no such user");
  const ch = parse(userChange, input);
  if (username === by && (ch.disabled || (ch.role && ch.role !== "admin"))) {
    throw new AdminError(400, "you cannot demote or disable yourself");
  }
  let u = null;
  if (ch.role) u = await setRole(ctx.kv, username, ch.role as Role);
  if (ch.disabled !== undefined) u = await setDisabled(ctx.kv, username, ch.disabled);
  if (!u) throw new AdminError(404, "no such user");
  ctx.log.info("user changed", { user: username, ...ch, by });
  return publicUser(u);
}

export async function adminIssueAgentToken(ctx: ServerContext, by: string, input: unknown) {
  const o = parse(newAgentTokenSchema, input);
  const { token, record } = await issueAgentToken(ctx.kv, { ...o, createdBy: by });
  ctx.log.info("agent token issued", { agentId: o.agentId, tokenId: record.id, by });
  return { ...publicToken(record), token };
}

export async function adminRevokeAgentToken(ctx: ServerContext, by: string, id: string) {
  const rec = await revokeAgentToken(ctx.kv, id).catch(() => null);
  if (!rec) throw new AdminError(404, "no such token");
  const closed = guardOf(ctx.broker?.aedes)?.disconnect({ tokenId: rec.id }) ?? 0;
  ctx.log.info("agent token revoked", { agentId: rec.agentId, tokenId: rec.id, by, closed });
  return { ...publicToken(rec), connectionsClosed: closed };
}

export async function adminIssueDeviceCredential(ctx: ServerContext, by: string, input: unknown) {
  const o = parse(newDeviceCredentialSchema, input);
  let r;
  try {
    r = await issueDeviceCredential(ctx.kv, { ...o, createdBy: by });
  } catch (e) {
    throw new AdminError(400, (e as Error).message);
  }
  if (!r) throw new AdminError(409, "a live credential with that user name exists; revoke it first");
  ctx.log.info("device credential issued", { user: r.username, topics: r.record.topics, by });
  // who saw which unit's password, and when (the password itself is never recorded)
  await recordAudit(ctx.kv, {
    actor: by,
    action: "device.credential.issue",
    target: `mqtt-user:${r.username}`,
    details: { topics: r.record.topics },
  }, ctx.clock.now());
  return { ...publicDevice(r.record), password: r.password };
}

export async function adminRevokeDeviceCredential(ctx: ServerContext, by: string, username: string) {
  const rec = await revokeDeviceCredential(ctx.kv, username).catch(() => null);
  if (!rec) throw new AdminError(404, "no such device credential");
  const closed = guardOf(ctx.broker?.aedes)?.disconnect({ deviceUsername: username }) ?? 0;
  ctx.log.info("device credential revoked", { user: username, by, closed });
  return { ...publicDevice(rec), connectionsClosed: closed };
}

const unlockInput = z.object({
  username: z.string().max(64).optional(),
  address: z.string().max(64).optional(),
}).strict().refine((o) => o.username || o.address, "give a user name, an address, or both");

/** Clear a sign-in lockout (an account from every address, an address, or the pair). */
export async function adminClearLockout(ctx: ServerContext, by: string, input: unknown) {
  const o = parse(unlockInput, input);
  const cleared = await clearLoginFailures(ctx.kv, {
    username: o.username || undefined,
    address: o.address || undefined,
  });
  ctx.log.info("sign-in lockout cleared", { user: o.username, address: o.address, by, cleared });
  await recordAudit(ctx.kv, {
    actor: by,
    action: "auth.unlock",
    target: o.username ? `user:${o.username}` : `address:${o.address}`,
    details: { address: o.address ?? null, cleared },
  }, ctx.clock.now());
  return { cleared };
}
