/**
 * Machine credentials over Deno KV: bench agent tokens, OpenBeken unit (or site)
 * MQTT credentials, and the server's own internal MQTT credential.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["agent_tokens", tokenId]               -> AgentTokenRecord
 *   ["agent_tokens_by_hash", sha256(token)] -> tokenId           (deleted on revoke, same commit)
 *   ["device_credentials", username]        -> DeviceCredentialRecord
 *   ["device_credentials_by_topic", topic, username] -> true   (every topic a listed credential covers)
 *   ["auth_internal", "mqtt_server"]        -> InternalCredential
 *   ["auth_internal", "unit_secret"]        -> string   (fleet secret for derived per-unit credentials)
 *   ["auth_revocations"]                    -> { at, tokenId|username }  (watched by every instance)
 *
 * Tokens and device passwords are 256-bit random secrets, so a SHA-256 lookup key
 * is safe to store; the plaintext is shown once, at creation, and never stored.
 * The Mosquitto PBKDF2 hash is kept so an external broker's password file can be
 * generated without the plaintext.
 */
import { z } from "zod";
import { AGENT_ID } from "../../shared/topics.ts";
import { mosquittoHash, randomSecret, sha256Hex } from "./crypto.ts";
import { RESERVED_TOPIC_LEVELS, reservedUnitTopic } from "./policy.ts";
import { commitRetryingLocks, CONFLICT, untilCommitted } from "../kv/retry.ts";

export interface AgentTokenRecord {
  id: string;
  agentId: string;
  label: string;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  hash: string;
  mosquittoHash: string;
}

export interface DeviceCredentialRecord {
  /** MQTT user name the unit is configured with (OpenBeken `MqttUser`) */
  username: string;
  /** the OpenBeken MQTT topics (= client ids) this credential may use: one unit, or a site's units */
  topics: string[];
  /** OpenBeken group topic (e.g. bekens_n) the units may subscribe to; never publish to */
  group: string | null;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  hash: string;
  mosquittoHash: string;
}

export interface InternalCredential {
  username: string;
  password: string;
  mosquittoHash: string;
}

/** An OpenBeken topic / client id: one MQTT level, no wildcards. */
export const OBK_TOPIC = /^[A-Za-z0-9_.-]{1,64}$/;
export const INTERNAL_USERNAME = "meterfleet-server";

export const newAgentTokenSchema = z.object({
  agentId: z.string().regex(AGENT_ID, "agent id: 1-64 of A-Z a-z 0-9 _ . -"),
  label: z.string().max(100).default(""),
}).strict();

export const newDeviceCredentialSchema = z.object({
  username: z.string().regex(OBK_TOPIC, "user name: 1-64 of A-Z a-z 0-9 _ . -").optional(),
  topics: z.array(z.string().regex(OBK_TOPIC, "topic: 1-64 of A-Z a-z 0-9 _ . -")).min(1).max(256),
  group: z.string().regex(OBK_TOPIC).nullable().default(null),
}).strict();

const TOKEN_FORMAT = /^mfa_[A-Za-z0-9_-]{43}$/;

export async function issueAgentToken(
  kv: Deno.Kv,
  o: { agentId: string; label?: string; createdBy: string },
  now = Date.now(),
): Promise<{ token: string; record: AgentTokenRecord }> {
  if (!AGENT_ID.test(o.agentId)) throw new Error("invalid agent id");
  const token = `mfa_${randomSecret(32)}`;
  const hash = await sha256Hex(token);
  const record: AgentTokenRecord = {
    id: crypto.randomUUID(),
    agentId: o.agentId,
    label: (o.label ?? "").slice(0, 100),
    createdAt: now,
    createdBy: o.createdBy,
    revokedAt: null,
    hash,
    mosquittoHash: await mosquittoHash(token),
  };
  await commitRetryingLocks(
    kv.atomic()
      .set(["agent_tokens", record.id], record)
      .set(["agent_tokens_by_hash", hash], record.id),
  );
  return { token, record };
}

/** The live (unrevoked) token record for a presented token, or null. */
export async function findAgentToken(kv: Deno.Kv, token: string): Promise<AgentTokenRecord | null> {
  if (!TOKEN_FORMAT.test(token)) return null;
  const id = (await kv.get<string>(["agent_tokens_by_hash", await sha256Hex(token)])).value;
  if (!id) return null;
  const rec = (await kv.get<AgentTokenRecord>(["agent_tokens", id])).value;
  return rec && rec.revokedAt === null ? rec : null;
}

export async function listAgentTokens(kv: Deno.Kv): Promise<AgentTokenRecord[]> {
  const out: AgentTokenRecord[] = [];
  for await (const e of kv.list<AgentTokenRecord>({ prefix: ["agent_tokens"] })) out.push(e.value);
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

export async function getAgentToken(kv: Deno.Kv, id: string): Promise<AgentTokenRecord | null> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return null;
  return (await kv.get<AgentTokenRecord>(["agent_tokens", id])).value;
}

/** Revoke: the record stays (audit), its lookup key goes, and every instance is told through KV. */
export async function revokeAgentToken(kv: Deno.Kv, id: string, now = Date.now()): Promise<AgentTokenRecord | null> {
  return await untilCommitted(`revoke token ${id}`, async () => {
    const cur = await kv.get<AgentTokenRecord>(["agent_tokens", id]);
    if (!cur.value) return null;
    if (cur.value.revokedAt !== null) return cur.value;
    const next = { ...cur.value, revokedAt: now };
    const res = await commitRetryingLocks(
      kv.atomic().check(cur)
        .set(cur.key, next)
        .delete(["agent_tokens_by_hash", cur.value.hash])
        .set(["auth_revocations"], { at: now, kind: "agent", id, agentId: next.agentId }),
    );
    return res.ok ? next : CONFLICT;
  });
}

export async function issueDeviceCredential(
  kv: Deno.Kv,
  o: { username?: string; topics: string[]; group?: string | null; createdBy: string },
  now = Date.now(),
): Promise<{ username: string; password: string; record: DeviceCredentialRecord } | null> {
  const topics = [...new Set(o.topics)];
  const ok = (t: string) => OBK_TOPIC.test(t) && !RESERVED_TOPIC_LEVELS.has(t);
  if (topics.length === 0 || !topics.every((t) => ok(t) && !reservedUnitTopic(t))) throw new Error("invalid topics");
  if (o.group && !ok(o.group)) throw new Error("invalid group");
  const username = o.username ?? (topics.length === 1 ? topics[0] : `site-${crypto.randomUUID().slice(0, 8)}`);
  if (!OBK_TOPIC.test(username) || username === INTERNAL_USERNAME) throw new Error("invalid user name");
  const password = randomSecret(24);
  const record: DeviceCredentialRecord = {
    username,
    topics,
    group: o.group ?? null,
    createdAt: now,
    createdBy: o.createdBy,
    revokedAt: null,
    hash: await sha256Hex(password),
    mosquittoHash: await mosquittoHash(password),
  };
  // re-issuing for a revoked user name is allowed; for a live one it is not
  const cur = await kv.get<DeviceCredentialRecord>(["device_credentials", username]);
  if (cur.value && cur.value.revokedAt === null) return null;
  const op = kv.atomic().check(cur).set(["device_credentials", username], record);
  for (const t of topics) op.set(["device_credentials_by_topic", t, username], true);
  const res = await commitRetryingLocks(op);
  return res.ok ? { username, password, record } : null;
}

export async function findDeviceCredential(
  kv: Deno.Kv,
  username: string,
  password: string,
): Promise<DeviceCredentialRecord | null> {
  if (!OBK_TOPIC.test(username) || password.length > 256) return null;
  const rec = (await kv.get<DeviceCredentialRecord>(["device_credentials", username])).value;
  if (!rec || rec.revokedAt !== null) return null;
  return rec.hash === await sha256Hex(password) ? rec : null;
}

export async function listDeviceCredentials(kv: Deno.Kv): Promise<DeviceCredentialRecord[]> {
  const out: DeviceCredentialRecord[] = [];
  for await (const e of kv.list<DeviceCredentialRecord>({ prefix: ["device_credentials"] })) out.push(e.value);
  return out;
}

export async function revokeDeviceCredential(kv: Deno.Kv, username: string, now = Date.now()) {
  if (!OBK_TOPIC.test(username)) return null;
  return await untilCommitted(`revoke credential ${username}`, async () => {
    const cur = await kv.get<DeviceCredentialRecord>(["device_credentials", username]);
    if (!cur.value) {
      // no listed credential: a unit on a derived credential (unitSecret) is blocked by a revoked tombstone
      if (!await unitSecret(kv)) return null;
      const tomb: DeviceCredentialRecord = {
        username,
        topics: [username],
        group: null,
        createdAt: now,
        createdBy: "derived",
        revokedAt: now,
        hash: "",
        mosquittoHash: "",
      };
      const res = await commitRetryingLocks(
        kv.atomic().check(cur).set(cur.key, tomb)
          .set(["auth_revocations"], { at: now, kind: "device", id: username }),
      );
      return res.ok ? tomb : CONFLICT;
    }
    if (cur.value.revokedAt !== null) return cur.value;
    const next = { ...cur.value, revokedAt: now };
    const res = await commitRetryingLocks(
      kv.atomic().check(cur).set(cur.key, next)
        .set(["auth_revocations"], { at: now, kind: "device", id: username }),
    );
    return res.ok ? next : CONFLICT;
  });
}

/** The server's own MQTT credential: created once, shared by every instance through KV. */
export async function internalCredential(kv: Deno.Kv): Promise<InternalCredential> {
  const key = ["auth_internal", "mqtt_server"];
  const cur = await kv.get<InternalCredential>(key);
  if (cur.value) return cur.value;
  const password = randomSecret(32);
  const cred: InternalCredential = {
    username: INTERNAL_USERNAME,
    password,
    mosquittoHash: await mosquittoHash(password),
  };
  const res = await commitRetryingLocks(kv.atomic().check(cur).set(key, cred));
  return res.ok ? cred : (await kv.get<InternalCredential>(key)).value!;
}

/**
 * The fleet secret from which per-unit OpenBeken credentials are derived at flash time
 * (shared/obk-config.ts unitMqttCredentials: user = topic, password = HMAC(secret, topic)).
 * The broker derives the same, so a freshly flashed unit connects without a listed credential.
 * `create` makes one when there is none (deno task admin unit-secret).
 */
export async function unitSecret(kv: Deno.Kv, create = false): Promise<string | null> {
  const key = ["auth_internal", "unit_secret"];
  const cur = await kv.get<string>(key);
  if (cur.value || !create) return cur.value;
  const secret = randomSecret(32);
  const res = await commitRetryingLocks(kv.atomic().check(cur).set(key, secret));
  return res.ok ? secret : (await kv.get<string>(key)).value;
}

/**
 * Whether the fleet-derived password for `topic` is refused: the unit has (or had) a listed
 * credential — one named after the topic (live, revoked, or a revoke tombstone of the derived
 * one) or one an admin issued that covers the topic. Once an admin issued a unit its own
 * password, the derived one (which any bench that ever held the fleet secret could compute)
 * no longer works; revoking that credential does not bring it back.
 */
export async function derivedCredentialBlocked(kv: Deno.Kv, topic: string): Promise<boolean> {
  if (!OBK_TOPIC.test(topic)) return true;
  if ((await kv.get(["device_credentials", topic])).versionstamp !== null) return true;
  for await (const _ of kv.list({ prefix: ["device_credentials_by_topic", topic] }, { limit: 1 })) return true;
  return false;
}

/** A revoked listed credential with this user name blocks the derived one too. */
export async function deviceCredentialRevoked(kv: Deno.Kv, username: string): Promise<boolean> {
  if (!OBK_TOPIC.test(username)) return true;
  const rec = (await kv.get<DeviceCredentialRecord>(["device_credentials", username])).value;
  return !!rec && rec.revokedAt !== null;
}
