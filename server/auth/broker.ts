/**
 * MQTT access control for the embedded broker: every CONNECT is authenticated
 * (the server's internal credential, an agent token, or an OpenBeken unit/site
 * credential), every PUBLISH and SUBSCRIBE is checked against MQTT_ACL, and a
 * revoked credential's live connections are closed at once.
 */
import type { Aedes } from "aedes";
import type { Logger } from "../../shared/log.ts";
import { AGENT_ID } from "../../shared/topics.ts";
import { TELEMETRY_LIMITS } from "../../shared/telemetry.ts";
import type { BrokerAuth } from "../broker.ts";
import {
  derivedCredentialBlocked,
  deviceCredentialRevoked,
  findAgentToken,
  findDeviceCredential,
  getAgentToken,
  INTERNAL_USERNAME,
  internalCredential,
  OBK_TOPIC,
  unitSecret,
} from "./tokens.ts";
import { unitMqttCredentials } from "../../shared/obk-config.ts";
import { timingSafeEqual } from "./crypto.ts";
import {
  mayPublish,
  maySubscribe,
  mayUseClientId,
  type Principal,
  publishRefusal,
  reservedUnitTopic,
} from "./policy.ts";
import { countRejection } from "../meters/store.ts";

/** A user name is logged only when it looks like one: a pasted token or password stays out of the log. */
function loggableName(u: string | undefined): string {
  return u && /^[A-Za-z0-9_.-]{1,64}$/.test(u) && !u.startsWith("mfa_") ? u : "(not a user name)";
}

/** Payload caps per kind of client: telemetry batches are ≤ 1 MiB (shared/telemetry.ts), OpenBeken texts are small. */
export const MAX_PAYLOAD: Record<Principal["kind"], number> = {
  server: 16 * 1024 * 1024,
  agent: TELEMETRY_LIMITS.maxPayloadBytes,
  device: 64 * 1024,
  user: 0,
};

export interface BrokerGuard {
  auth: BrokerAuth;
  /** give the guard the broker, so it can close connections */
  attach(aedes: Aedes): void;
  /** close every live connection of an agent token or a device credential */
  disconnect(match: { tokenId?: string; deviceUsername?: string }): number;
  /** principal of a connected client (tests, admin page) */
  connected(): { clientId: string; principal: Principal }[];
  stop(): void;
}

const guards = new WeakMap<Aedes, BrokerGuard>();
type AedesClient = { id: string; close(): void };
/** aedes keeps connected clients in `clients` (not in its typings) */
const clientsOf = (a: Aedes | null): AedesClient[] =>
  Object.values((a as unknown as { clients?: Record<string, AedesClient> } | null)?.clients ?? {});
export const guardOf = (aedes: Aedes | undefined | null) => (aedes ? guards.get(aedes) ?? null : null);

/** Whose connections count together toward the per-credential limit (the server's own client is not limited). */
function credentialOf(p: Principal): string | null {
  if (p.kind === "agent") return `agent:${p.agentId}`;
  if (p.kind === "device") return `device:${p.username}`;
  return null;
}

export function createBrokerGuard(
  kv: Deno.Kv,
  log: Logger,
  /** live connections one agent id or one unit credential may hold at once (MQTT_MAX_CONNECTIONS) */
  opts: { maxConnectionsPerCredential?: number } = {},
): BrokerGuard {
  const maxPerCredential = opts.maxConnectionsPerCredential ?? 8;
  // connections accepted per credential, from the moment authenticate says yes (aedes lists a client
  // only later, so its own list would let a burst of CONNECTs all pass); closed ones are pruned when counted
  const accepted = new Map<string, Set<{ id: string; closed?: boolean }>>();
  // per connection object (not per client id: a reconnect with the same id replaces the old connection)
  const principals = new WeakMap<object, Principal>();
  const revokedTokens = new Set<string>();
  const revokedDevices = new Set<string>();
  let aedes: Aedes | null = null;
  let watch: ReadableStreamDefaultReader | null = null;

  const live = (p: Principal | undefined): p is Principal =>
    !!p && !(p.kind === "agent" && revokedTokens.has(p.tokenId)) &&
    !(p.kind === "device" && revokedDevices.has(p.username));

  const principalFor = async (
    username: string | undefined,
    password: string | undefined,
  ): Promise<Principal | null> => {
    if (!username || !password || username.length > 128 || password.length > 256) return null;
    if (username === INTERNAL_USERNAME) {
      const cred = await internalCredential(kv);
      return timingSafeEqual(password, cred.password) ? { kind: "server" } : null;
    }
    if (password.startsWith("mfa_")) {
      const rec = await findAgentToken(kv, password);
      // the MQTT user name is the agent id, and must be the token's
      return rec && AGENT_ID.test(username) && rec.agentId === username
        ? { kind: "agent", agentId: rec.agentId, tokenId: rec.id }
        : null;
    }
    const dev = await findDeviceCredential(kv, username, password);
    if (dev) {
      revokedDevices.delete(dev.username); // re-issued after a revoke
      return { kind: "device", username: dev.username, topics: dev.topics, group: dev.group };
    }
    // a unit provisioned at flash time with a credential derived from the fleet secret (user = its topic)
    const secret = await unitSecret(kv);
    if (secret && OBK_TOPIC.test(username) && !reservedUnitTopic(username) && password.length === 24) {
      const derived = await unitMqttCredentials(secret, username);
      if (timingSafeEqual(password, derived.password) && !await derivedCredentialBlocked(kv, username)) {
        return { kind: "device", username, topics: [username], group: null };
      }
    }
    return null;
  };

  const connectedList = () => {
    const out: { clientId: string; principal: Principal }[] = [];
    for (const c of clientsOf(aedes)) {
      const p = principals.get(c);
      if (p) out.push({ clientId: c.id, principal: p });
    }
    return out;
  };

  const disconnect = (m: { tokenId?: string; deviceUsername?: string }) => {
    if (m.tokenId) revokedTokens.add(m.tokenId);
    if (m.deviceUsername) revokedDevices.add(m.deviceUsername);
    let n = 0;
    for (const c of clientsOf(aedes)) {
      const p = principals.get(c);
      const hit = p && ((m.tokenId && p.kind === "agent" && p.tokenId === m.tokenId) ||
        (m.deviceUsername && p.kind === "device" && p.username === m.deviceUsername));
      if (!hit) continue;
      principals.delete(c);
      c.close();
      n++;
    }
    if (n) log.info("closed MQTT connections of a revoked credential", { connections: n });
    return n;
  };

  /** Close every connection whose credential KV now says is revoked. */
  const revalidate = async () => {
    for (const c of clientsOf(aedes)) {
      const p = principals.get(c);
      if (p?.kind === "agent") {
        const rec = await getAgentToken(kv, p.tokenId);
        if (!rec || rec.revokedAt !== null) disconnect({ tokenId: p.tokenId });
      } else if (p?.kind === "device" && await deviceCredentialRevoked(kv, p.username)) {
        disconnect({ deviceUsername: p.username });
      }
    }
  };

  const refuse = (what: string, clientId: string, topic: string) =>
    log.warn(`MQTT ${what} refused`, { clientId: clientId.slice(0, 80), topic: topic.slice(0, 200) });

  const guard: BrokerGuard = {
    // until attach() installs the real hooks, nobody gets in
    auth: { authenticate: () => Promise.resolve(false) },
    attach(a) {
      aedes = a;
      guards.set(a, guard);
      a.authenticate = (client, username, password, done) => {
        const pw = password ? new TextDecoder().decode(password) : undefined;
        principalFor(username, pw).then((p) => {
          if (!p || !mayUseClientId(p, client.id)) {
            log.warn("MQTT connection refused", { clientId: client.id.slice(0, 80), user: loggableName(username) });
            return done(Object.assign(new Error("not authorized"), { returnCode: 5 }) as never, false);
          }
          const cred = credentialOf(p);
          if (cred) {
            // counted and registered in one synchronous step: a burst of CONNECTs cannot all pass the count;
            // a reconnect under the same client id replaces its old connection, so that one does not count
            const mine = accepted.get(cred) ?? new Set();
            accepted.set(cred, mine);
            let n = 0;
            for (const c of mine) {
              if (c.closed || !live(principals.get(c))) mine.delete(c);
              else if (c.id !== client.id) n++;
            }
            if (n >= maxPerCredential) {
              log.warn("MQTT connection refused: too many connections for one credential", {
                clientId: client.id.slice(0, 80),
                credential: cred,
                limit: maxPerCredential,
              });
              return done(Object.assign(new Error("too many connections"), { returnCode: 5 }) as never, false);
            }
            mine.add(client as unknown as { id: string; closed?: boolean });
          }
          principals.set(client, p);
          done(null, true);
        }, (e) => done(e, false));
      };
      a.authorizePublish = (client, packet, done) => {
        if (!client) return done(null); // broker-internal ($SYS)
        const p = principals.get(client);
        const size = packet.payload?.length ?? 0;
        if (live(p) && mayPublish(p, packet.topic) && size <= MAX_PAYLOAD[p.kind]) {
          const why = publishRefusal(p, packet.topic, packet.payload as Uint8Array | undefined);
          if (!why) return done(null);
          // a unit speaking for another unit: refused and counted by cause (GET /api/health)
          refuse(`publish (${why})`, client.id, packet.topic);
          countRejection(kv, `mqtt_${why}`).catch(() => {});
          return done(new Error("publish not allowed"));
        }
        refuse("publish", client.id, packet.topic);
        if (p?.kind === "device") countRejection(kv, "mqtt_device_foreign_topic").catch(() => {});
        done(new Error("publish not allowed"));
      };
      a.authorizeSubscribe = (client, sub, done) => {
        const p = principals.get(client);
        if (live(p) && maySubscribe(p, sub.topic)) return done(null, sub);
        refuse("subscribe", client.id, sub.topic);
        done(null, null);
      };
      // revocations made by any server instance (they share KV) close connections here too
      watch = kv.watch([["auth_revocations"]]).getReader();
      (async () => {
        for (;;) {
          const r = await watch!.read().catch(() => ({ done: true as const, value: undefined }));
          if (r.done) return;
          const rev = (r.value as Deno.KvEntryMaybe<{ kind: string; id: string }>[])[0]?.value;
          if (rev?.kind === "agent") disconnect({ tokenId: rev.id });
          if (rev?.kind === "device") disconnect({ deviceUsername: rev.id });
          // a watch may coalesce several quick revocations into the last one: re-check every live client
          await revalidate().catch((e) => log.warn("revalidating MQTT clients failed", { err: e }));
        }
      })();
    },
    disconnect,
    connected: connectedList,
    stop() {
      watch?.cancel().catch(() => {});
    },
  };
  return guard;
}
