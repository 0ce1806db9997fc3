/** Server configuration, from the environment (12-factor), with the demo-friendly defaults. */
import { type Zone, ZoneError, zoneFromSettings } from "../shared/zone.ts";

export interface ServerConfig {
  host: string;
  port: number;
  /**
   * port of the OTA download responder (OTA_HTTP_PORT; default PORT + 1, 0 = any free port): the plain
   * HTTP/1.1 socket every `ota_http` URL points at (server/ota/responder.ts)
   */
  otaHttpPort: number;
  /**
   * OTA_HTTP_URL: where units reach that responder (http://host:port), when not at the rollout's base
   * URL host on otaHttpPort (a port forward, a NAT)
   */
  otaHttpUrl: string | null;
  /** a file path (local SQLite) or a KV Connect URL (http(s)://…) */
  kvPath: string;
  /** an external broker (mqtt://host:port); when unset the server embeds aedes */
  mqttUrl: string | null;
  /** port of the embedded broker (0 = any free port) */
  embeddedMqttPort: number;
  embeddedMqttHost: string;
  /** MQTT 5 shared-subscription group, so several server instances split telemetry; null = plain subscription */
  mqttShareGroup: string | null;
  /** identifies this server instance in MQTT client ids and logs */
  instanceId: string;
  dataDir: string;
  /** how often the ingest log is moved into per-meter history blocks (HISTORY_COMPACT_MS) */
  historyCompactMs: number;
  /** how often the live view sends its deltas (LIVE_INTERVAL_MS) */
  liveIntervalMs: number;
  /** a live watcher that has not read its stream this long is disconnected (LIVE_MAX_BEHIND_MS) */
  liveMaxBehindMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** the installation's time zone: where energy days and months start, and what a maintenance window's hours mean */
  zone: Zone;
  /** SECRETS_KEY: base64 of 32 bytes sealing secrets kept in KV (unit web passwords, flash backups); else DATA_DIR/secrets.key */
  secretsKey: string | null;
  /**
   * TRUST_PROXY: the server sits behind a reverse proxy that terminates TLS and sets
   * X-Forwarded-Proto / X-Forwarded-Host / X-Forwarded-For; only then are those headers believed
   */
  trustProxy: boolean;
  /** MQTT_MAX_CONNECTIONS: live MQTT connections one agent id or one unit credential may hold at once */
  mqttMaxConnections: number;
  /** KV_CHECK_MS: how often the whole KV file is read to find damaged pages (0 = only at start) */
  kvCheckMs: number;
}

export function configFromEnv(env: Record<string, string | undefined> = Deno.env.toObject()): ServerConfig {
  const dataDir = env.DATA_DIR ?? "./data";
  const mqttUrl = env.MQTT_URL || null;
  const port = portFrom(env.PORT, 8000, "PORT");
  const otaHttpUrl = env.OTA_HTTP_URL || null;
  if (otaHttpUrl && !/^http:\/\/[^\s/]+(:\d+)?\/?$/.test(otaHttpUrl)) {
    throw new Error(
      `OTA_HTTP_URL must be plain http://host[:port] (OpenBeken cannot fetch over HTTPS), got ${otaHttpUrl}`,
    );
  }
  return {
    host: env.HOST ?? "127.0.0.1",
    port,
    otaHttpPort: portFrom(env.OTA_HTTP_PORT, port === 0 ? 0 : port === 65535 ? 0 : port + 1, "OTA_HTTP_PORT"),
    otaHttpUrl: otaHttpUrl?.replace(/\/$/, "") ?? null,
    kvPath: env.KV_PATH ?? `${dataDir}/meterfleet.kv`,
    mqttUrl,
    embeddedMqttPort: portFrom(env.MQTT_PORT, 1883, "MQTT_PORT"),
    embeddedMqttHost: env.MQTT_HOST ?? "127.0.0.1",
    mqttShareGroup: env.MQTT_SHARE_GROUP === "" ? null : (env.MQTT_SHARE_GROUP ?? (mqttUrl ? "meterfleet" : null)),
    instanceId: env.INSTANCE_ID ?? `srv-${crypto.randomUUID().slice(0, 8)}`,
    dataDir,
    historyCompactMs: msFrom(env.HISTORY_COMPACT_MS, 20_000, "HISTORY_COMPACT_MS"),
    liveIntervalMs: msFrom(env.LIVE_INTERVAL_MS, 1000, "LIVE_INTERVAL_MS"),
    liveMaxBehindMs: msFrom(env.LIVE_MAX_BEHIND_MS, 30_000, "LIVE_MAX_BEHIND_MS"),
    logLevel: (env.LOG_LEVEL as ServerConfig["logLevel"]) ?? "info",
    zone: zoneFromEnv(env),
    secretsKey: env.SECRETS_KEY || null,
    trustProxy: boolFrom(env.TRUST_PROXY, "TRUST_PROXY"),
    mqttMaxConnections: countFrom(env.MQTT_MAX_CONNECTIONS, 8, "MQTT_MAX_CONNECTIONS"),
    kvCheckMs: env.KV_CHECK_MS === "0" ? 0 : msFrom(env.KV_CHECK_MS, 3600_000, "KV_CHECK_MS"),
  };
}

/**
 * FLEET_TZ (an IANA zone such as Europe/Berlin, or UTC); else the older fixed
 * ENERGY_TZ_OFFSET_MIN; else the host's own zone (TZ, /etc/localtime).
 */
export function zoneFromEnv(env: Record<string, string | undefined>): Zone {
  try {
    const offset = env.ENERGY_TZ_OFFSET_MIN;
    return zoneFromSettings({ name: env.FLEET_TZ || undefined, offsetMin: offset ? Number(offset) : undefined });
  } catch (e) {
    if (e instanceof ZoneError) throw new Error(`FLEET_TZ / ENERGY_TZ_OFFSET_MIN: ${e.message}`);
    throw e;
  }
}

function portFrom(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(`${name} must be a port number, got ${JSON.stringify(v)}`);
  }
  return n;
}

function msFrom(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 50 || n > 3_600_000) {
    throw new Error(`${name} must be milliseconds (50..3600000), got ${JSON.stringify(v)}`);
  }
  return n;
}

function boolFrom(v: string | undefined, name: string): boolean {
  if (v === undefined || v === "" || /^(0|false|no|off)$/i.test(v)) return false;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(v)}`);
}

function countFrom(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new Error(`${name} must be a count (1..100000), got ${JSON.stringify(v)}`);
  }
  return n;
}
