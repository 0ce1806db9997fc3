/**
 * First start: with no users at all, create `admin` with a random one-time password
 * and write it to <dataDir>/initial-admin-password (mode 0600). Only the file's
 * path is printed, never the password. Signing in with it deletes the file.
 * Also: the token of the simulated bench agent that `npm start` runs.
 */
import type { ServerContext } from "../context.ts";
import { issueAgentToken, listAgentTokens, revokeAgentToken } from "./tokens.ts";
import { countUsers, createUser } from "./users.ts";
import { randomSecret } from "./crypto.ts";
import { BOOTSTRAP_FILE } from "./web.ts";

export async function ensureInitialAdmin(ctx: ServerContext): Promise<string | null> {
  if (await countUsers(ctx.kv) > 0) return null;
  const password = randomSecret(15);
  const rec = await createUser(ctx.kv, { username: "admin", role: "admin", password, bootstrap: true });
  if (!rec) return null; // another instance got there first
  await Deno.mkdir(ctx.config.dataDir, { recursive: true });
  const path = `${ctx.config.dataDir}/${BOOTSTRAP_FILE}`;
  await Deno.remove(path).catch(() => {});
  await Deno.writeTextFile(path, `user: admin\npassword: ${password}\n`, { mode: 0o600, createNew: true });
  await Deno.chmod(path, 0o600).catch(() => {});
  ctx.log.info("first start: created user admin; its one-time password is in a file", { file: path });
  return path;
}

const SIM_LABEL = "npm start: simulated bench";

/** A fresh token for the demo's simulated agent; older ones of the same purpose are revoked. */
export async function simBenchToken(ctx: ServerContext, agentId: string): Promise<string> {
  for (const t of await listAgentTokens(ctx.kv)) {
    if (t.agentId === agentId && t.label === SIM_LABEL && t.revokedAt === null) await revokeAgentToken(ctx.kv, t.id);
  }
  return (await issueAgentToken(ctx.kv, { agentId, label: SIM_LABEL, createdBy: "server" })).token;
}
