/**
 * THE access policy: one table for HTTP routes, one for MQTT topics. Default deny:
 * a route that no rule names is admin-only, a topic that no rule names is refused.
 * Engineers adding a route add one line here (or get admin-only); the table-driven
 * test in tests/auth/ walks every route the app registers and every MQTT rule.
 */
import type { Role } from "./users.ts";
import { ROLES } from "./users.ts";
import { TOPIC_ROOT } from "../../shared/topics.ts";
import { OBK_PLATFORM_GROUPS } from "../../shared/obk-config.ts";

export type Principal =
  | { kind: "user"; username: string; role: Role; csrf: string; mustChangePassword?: boolean }
  | { kind: "agent"; agentId: string; tokenId: string }
  | { kind: "device"; username: string; topics: string[]; group: string | null }
  | { kind: "server" };

/**
 * Who may call a route:
 *   "public"      anyone, signed in or not (login page, static assets)
 *   Role          a signed-in user with at least this role (viewer < operator < admin)
 *   "agent"       any bench agent presenting a live token (Authorization: Bearer)
 *   "agent:self"  a bench agent whose id equals the route's :agentId segment
 */
export type Allow = "public" | Role | "agent" | "agent:self";

export interface RouteRule {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "*";
  /** `/a/:param/b`, `*` at the end = any rest (including none) */
  path: string;
  allow: Allow[];
  /** request body cap in bytes (default DEFAULT_MAX_BODY); uploads name their own */
  maxBody?: number;
}

export const DEFAULT_MAX_BODY = 64 * 1024;

/** First match wins: put specific rules before general ones. */
export const ROUTES: RouteRule[] = [
  // public: signing in, and what the login page itself needs
  { method: "GET", path: "/login", allow: ["public"] },
  { method: "POST", path: "/login", allow: ["public"], maxBody: 8 * 1024 },
  { method: "GET", path: "/static/*", allow: ["public"] },
  { method: "GET", path: "/_islands/*", allow: ["public"] },
  // liveness for load balancers and process supervisors (status and ingest counters, nothing per meter)
  { method: "GET", path: "/api/health", allow: ["public"] },

  // any signed-in user
  { method: "GET", path: "/logout", allow: ["viewer"] },
  { method: "POST", path: "/logout", allow: ["viewer"] },
  { method: "GET", path: "/api/auth/me", allow: ["viewer"] },
  // your own account: change your password (the current one is asked again)
  { method: "GET", path: "/account", allow: ["viewer"] },
  { method: "POST", path: "/account", allow: ["viewer"], maxBody: 8 * 1024 },

  // the live fleet: read-only
  { method: "GET", path: "/", allow: ["viewer"] },
  { method: "GET", path: "/meters/:id", allow: ["viewer"] },
  // one meter's readings as they are committed (SSE), for its live page
  { method: "GET", path: "/meters/:id/live", allow: ["viewer"] },
  { method: "GET", path: "/api/meters", allow: ["viewer"] },
  { method: "GET", path: "/api/meters/*", allow: ["viewer"] },
  { method: "GET", path: "/api/live", allow: ["viewer"] },
  { method: "GET", path: "/api/refused-readings", allow: ["viewer"] },

  // a registered firmware image by its sha256, for signed-in users (the firmware page's download link); units
  // never come here: `ota_http` URLs point at the OTA responder's own socket (server/ota/responder.ts), which
  // serves a commanded unit its image under the command's secret
  { method: "GET", path: "/fw/*", allow: ["viewer"] },

  // bench work: operators flash, calibrate, keep the rework log; everyone reads
  { method: "GET", path: "/flash", allow: ["viewer"] },
  // what a batch's stock backups say (product key, versions, schema) and which unit differs
  { method: "GET", path: "/api/flash/batches/:batchId/stock-check", allow: ["viewer"] },
  { method: "GET", path: "/api/flash/*", allow: ["viewer"] },
  // starting a backup / flash / provision / restore job on a connected bench agent
  { method: "POST", path: "/flash", allow: ["operator"] },
  { method: "POST", path: "/api/flash/jobs", allow: ["operator"] },
  { method: "GET", path: "/units/*", allow: ["viewer"] },
  { method: "POST", path: "/units/*", allow: ["operator"] },
  // a unit's flash backup holds the customer's Wi-Fi password: operators download it, audited
  { method: "GET", path: "/api/units/:id/backups/:sha", allow: ["operator"] },
  { method: "GET", path: "/api/units", allow: ["viewer"] },
  // a unit's stock config from its backup (never a Wi-Fi password: the decoder does not read it out)
  { method: "GET", path: "/api/units/:id/stock-config", allow: ["viewer"] },
  { method: "GET", path: "/api/units/*", allow: ["viewer"] },
  { method: "POST", path: "/api/units", allow: ["operator"] },
  { method: "POST", path: "/api/units/*", allow: ["operator"] },
  { method: "PATCH", path: "/api/units/:id", allow: ["operator"] },
  // a unit's OpenBeken web password for HTTP OTA: written by operators, sealed, never read back (GET: set or not)
  { method: "PUT", path: "/api/units/:id/web-password", allow: ["operator"], maxBody: 1024 },
  { method: "DELETE", path: "/api/units/:id/web-password", allow: ["operator"] },
  { method: "GET", path: "/api/rework/*", allow: ["viewer"] },
  { method: "GET", path: "/api/rework.csv", allow: ["viewer"] },
  { method: "GET", path: "/api/audit", allow: ["operator"] },
  { method: "GET", path: "/api/audit.csv", allow: ["operator"] },

  // energy and OpenBeken units
  { method: "GET", path: "/api/energy/*", allow: ["viewer"] },
  { method: "PUT", path: "/api/energy/sites/:deviceId", allow: ["operator"] },
  { method: "GET", path: "/api/openbeken/*", allow: ["viewer"] },
  { method: "PUT", path: "/api/openbeken/units/:topic/energy-unit", allow: ["operator"] },
  { method: "GET", path: "/energy", allow: ["viewer"] },
  { method: "GET", path: "/energy/*", allow: ["viewer"] },

  // firmware and rollouts: everyone reads, admins change
  { method: "GET", path: "/api/firmware", allow: ["viewer"] },
  { method: "GET", path: "/api/firmware/*", allow: ["viewer"] },
  { method: "POST", path: "/api/firmware", allow: ["admin"], maxBody: 4 * 1024 * 1024 + 128 * 1024 },
  { method: "GET", path: "/firmware", allow: ["viewer"] },
  // the page's upload form: a real OpenBeken RBL is ~1.1 MB, its UART image ~1.2 MB
  { method: "POST", path: "/firmware", allow: ["admin"], maxBody: 4 * 1024 * 1024 + 128 * 1024 },
  { method: "GET", path: "/rollouts", allow: ["viewer"] },
  { method: "GET", path: "/rollouts/:id", allow: ["viewer"] },
  { method: "GET", path: "/api/rollouts", allow: ["viewer"] },
  { method: "GET", path: "/api/rollouts/:id", allow: ["viewer"] },
  { method: "POST", path: "/api/rollouts", allow: ["admin"] },
  { method: "POST", path: "/api/rollouts/*", allow: ["admin"] },

  // bench agents calling the server over HTTP use their MQTT token, only for themselves;
  // a unit's MQTT password goes only to the bench that backed the unit up (never to a signed-in operator)
  { method: "POST", path: "/api/agents/:agentId/flash/credentials", allow: ["agent:self"] },
  // a backup's bytes go back only to the bench that took it (people use /api/units/:id/backups/:sha)
  { method: "GET", path: "/api/agents/:agentId/flash/backups/:sha/bytes", allow: ["agent:self"] },
  { method: "*", path: "/api/agents/:agentId/*", allow: ["agent:self", "operator"] },

  // users, agent tokens, device credentials
  { method: "*", path: "/admin", allow: ["admin"] },
  { method: "*", path: "/admin/*", allow: ["admin"] },
  { method: "*", path: "/api/auth/*", allow: ["admin"] },
];

/** What applies when no rule matches. */
export const DEFAULT_RULE: RouteRule = { method: "*", path: "*", allow: ["admin"] };

export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "*" && i === p.length - 1) return params;
    if (i >= s.length) return null;
    if (p[i].startsWith(":")) params[p[i].slice(1)] = s[i];
    else if (p[i] !== s[i]) return null;
  }
  return p.length === s.length ? params : null;
}

export function ruleFor(method: string, path: string): { rule: RouteRule; params: Record<string, string> } {
  const m = method === "HEAD" ? "GET" : method;
  for (const rule of ROUTES) {
    if (rule.method !== "*" && rule.method !== m) continue;
    const params = matchPath(rule.path, path);
    if (params) return { rule, params };
  }
  return { rule: DEFAULT_RULE, params: {} };
}

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function allows(rule: RouteRule, params: Record<string, string>, who: Principal | null): boolean {
  for (const a of rule.allow) {
    if (a === "public") return true;
    if (!who) continue;
    if (a === "agent" && who.kind === "agent") return true;
    if (a === "agent:self" && who.kind === "agent" && params.agentId === who.agentId) return true;
    if ((ROLES as readonly string[]).includes(a) && who.kind === "user" && roleAtLeast(who.role, a as Role)) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// MQTT

/**
 * Topic patterns per kind of client. `{agentId}`, `{topic}` (each of a device
 * credential's topics) and `{group}` are filled in per client; a pattern with a
 * placeholder the client lacks (no group) is dropped. Publishing is checked per
 * message topic; subscribing per filter, which must lie inside an allowed pattern.
 */
export const MQTT_ACL: Record<"server" | "agent" | "device", { publish: string[]; subscribe: string[] }> = {
  // the server's own client: ingest, acks, OpenBeken commands (OTA, calibration)
  server: { publish: ["#"], subscribe: ["#", "$share/+/#"] },
  // a bench agent: only under its own id; never cmnd/#, never another agent
  agent: {
    publish: [`${TOPIC_ROOT}/agents/{agentId}/#`],
    subscribe: [`${TOPIC_ROOT}/agents/{agentId}/#`],
  },
  // an OpenBeken unit (OpenBeken reference §1): its own topic tree, Tasmota-style tele/stat, HA discovery;
  // it receives commands for itself, its group and its platform's default group (every OBK build subscribes
  // `cmnd/bekens_n|bekens_t/+`; units on flash-time derived credentials have no other group), and never publishes commands
  device: {
    publish: ["{topic}/#", "tele/{topic}/#", "stat/{topic}/#", "homeassistant/+/+/config"],
    subscribe: [
      "{topic}/#",
      "cmnd/{topic}/#",
      "tele/{topic}/#",
      "stat/{topic}/#",
      "{group}/+/set",
      "cmnd/{group}/#",
      "homeassistant/+",
      // MQTT_InitCallbacks (src/mqtt/new_mqtt.c) subscribes `<group>/+/set` and `cmnd/<group>/+` for the group
      // topic, which defaults to the platform's DEF_MQTT_GROUP (src/new_common.h): read only, like cmnd/
      ...Object.values(OBK_PLATFORM_GROUPS).flatMap((g) => [`cmnd/${g}/+`, `${g}/+/set`]),
    ],
  },
};

/** Names a device topic or group may not take, or its ACL would cover someone else's tree. */
export const RESERVED_TOPIC_LEVELS = new Set(["meterfleet", "cmnd", "stat", "tele", "homeassistant", "$SYS", "$share"]);

/**
 * A unit topic may not be a platform's default group either: a unit named `bekens_n` could publish
 * `bekens_n/1/set`, which every BK7231N unit obeys (a group itself may be one, it is only ever read).
 */
export function reservedUnitTopic(t: string): boolean {
  return RESERVED_TOPIC_LEVELS.has(t) || (Object.values(OBK_PLATFORM_GROUPS) as string[]).includes(t);
}

/**
 * Publish patterns the topic alone cannot bind to the publisher: OpenBeken names a Home Assistant discovery
 * topic after its long device name (`homeassistant/sensor/OpenBK7231N_8C112233_sensor_2/config`,
 * src/httpserver/hass.c), and the unit it describes only in the payload's `"~"` (its MQTT client id). The
 * embedded broker checks that payload (publishRefusal); a broker that cannot look into payloads (Mosquitto's
 * ACL) must not grant these patterns at all.
 */
export const PAYLOAD_BOUND_PUBLISH: ReadonlySet<string> = new Set(["homeassistant/+/+/config"]);

/**
 * Why a publish the topic ACL allows is still refused, or null: a unit's discovery config must describe the
 * unit itself — `"~"` one of its credential's topics — so one unit can never rewrite another's record (energy
 * unit, channel factors, ip) through a retained config. An empty payload (clearing a retained config) is
 * refused too: whose config it clears cannot be told.
 */
export function publishRefusal(who: Principal, topic: string, payload: Uint8Array | undefined): string | null {
  if (who.kind !== "device" || !topic.startsWith("homeassistant/")) return null;
  if (!payload || payload.length === 0) return "discovery_empty";
  let tilde: unknown;
  try {
    const j = JSON.parse(new TextDecoder().decode(payload));
    tilde = typeof j === "object" && j !== null ? (j as Record<string, unknown>)["~"] : undefined;
  } catch {
    return "discovery_not_json";
  }
  return typeof tilde === "string" && who.topics.includes(tilde) ? null : "discovery_other_unit";
}

export function mqttPatterns(who: Principal, op: "publish" | "subscribe"): string[] {
  if (who.kind === "user") return [];
  const pats = MQTT_ACL[who.kind][op];
  if (who.kind === "server") return pats;
  if (who.kind === "agent") return pats.map((p) => p.replaceAll("{agentId}", who.agentId));
  const out: string[] = [];
  for (const p of pats) {
    if (p.includes("{group}") && !who.group) continue;
    const g = p.replaceAll("{group}", who.group ?? "");
    if (g.includes("{topic}")) { for (const t of who.topics) out.push(g.replaceAll("{topic}", t)); }
    else out.push(g);
  }
  return out;
}

/** Does concrete `topic` fall under pattern `pat` (+, # wildcards)? `$` topics only match `$` patterns. */
export function topicUnder(pat: string, topic: string): boolean {
  return filterWithin(topic, pat) && !/[+#]/.test(topic);
}

/** Is every topic matched by `filter` also matched by `pat`? */
export function filterWithin(filter: string, pat: string): boolean {
  const f = filter.split("/");
  const p = pat.split("/");
  // wildcards at the first level never match `$` topics ($SYS, $share)
  if ((p[0] === "+" || p[0] === "#") && f[0].startsWith("$")) return false;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "#") return true;
    if (i >= f.length) return false;
    if (f[i] === "#") return false;
    if (p[i] === "+") continue;
    if (f[i] !== p[i]) return false;
  }
  return f.length === p.length;
}

export function mayPublish(who: Principal, topic: string): boolean {
  if (topic.length === 0 || topic.length > 512 || topic.includes("\u0000") || /[+#]/.test(topic)) return false;
  return mqttPatterns(who, "publish").some((p) => topicUnder(p, topic));
}

export function maySubscribe(who: Principal, filter: string): boolean {
  if (filter.length === 0 || filter.length > 512 || filter.includes("\u0000")) return false;
  if (!validFilter(filter)) return false;
  return mqttPatterns(who, "subscribe").some((p) => filterWithin(filter, p));
}

function validFilter(f: string): boolean {
  const parts = f.split("/");
  return parts.every((s, i) => (s === "#" ? i === parts.length - 1 : s === "+" || !/[+#]/.test(s)));
}

/** MQTT client ids are bound to the principal, so nobody can take over another's session. */
export function mayUseClientId(who: Principal, clientId: string): boolean {
  if (who.kind === "server") return clientId.startsWith("meterfleet-server-");
  if (clientId.startsWith("meterfleet-server")) return false;
  if (who.kind === "agent") {
    return clientId === `meterfleet-agent-${who.agentId}` || clientId.startsWith(`meterfleet-agent-${who.agentId}-`);
  }
  if (who.kind === "device") {
    // OpenBeken's client id is its topic (reference §0); a simulator may add a suffix
    return who.topics.some((t) => clientId === t || clientId.startsWith(`${t}-`));
  }
  return false;
}
