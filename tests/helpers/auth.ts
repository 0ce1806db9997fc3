/**
 * Test-side identities, used by tests/helpers/server.ts: a signed-in session of
 * any role (created straight in KV, so the suite does not pay argon2id per
 * server), agent tokens and OpenBeken credentials issued the way an admin would.
 */
import { issueAgentToken, issueDeviceCredential } from "../../server/auth/tokens.ts";
import { createSession, createUser, type Role } from "../../server/auth/users.ts";
import { SESSION_COOKIE } from "../../server/auth/middleware.ts";

export interface TestSession {
  username: string;
  role: Role;
  cookie: string;
  token: string;
  csrf: string;
}

/** A user of `role` (password sign-in disabled: "!" is no argon2id hash) with a live session. */
export async function testSession(kv: Deno.Kv, role: Role, username = `test-${role}`): Promise<TestSession> {
  await createUser(kv, { username, role, passwordHash: "!" });
  const { token, csrf } = await createSession(kv, username);
  return { username, role, cookie: `${SESSION_COOKIE}=${token}`, token, csrf };
}

/** fetch as that session: cookie always, CSRF header on state-changing methods. */
export function fetchAs(
  baseUrl: string,
  s: TestSession | null,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (s) {
    headers.set("cookie", [headers.get("cookie"), s.cookie].filter(Boolean).join("; "));
    const m = (init.method ?? "GET").toUpperCase();
    if (!["GET", "HEAD", "OPTIONS"].includes(m) && !headers.has("x-csrf-token")) headers.set("x-csrf-token", s.csrf);
  }
  return fetch(baseUrl + path, { ...init, headers });
}

export async function testAgentCredentials(kv: Deno.Kv, agentId: string) {
  const { token } = await issueAgentToken(kv, { agentId, label: "test", createdBy: "test" });
  // clientId: the broker binds client ids to credentials (server/auth/policy.ts mayUseClientId)
  return { username: agentId, password: token, token, clientId: `meterfleet-agent-${agentId}` };
}

export async function testDeviceCredentials(kv: Deno.Kv, topic: string) {
  for (let i = 0; i < 20; i++) {
    const username = i === 0 ? topic : `${topic}.${crypto.randomUUID().slice(0, 6)}`;
    const r = await issueDeviceCredential(kv, { username, topics: [topic], createdBy: "test" });
    // OpenBeken's MQTT client id is its topic; the broker holds units to that
    if (r) return { username: r.username, password: r.password, clientId: topic };
  }
  throw new Error(`could not issue a device credential for ${topic}`);
}
