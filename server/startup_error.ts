/** Why the server could not start, in one line a person can act on (no stack trace). */
import type { ServerConfig } from "./config.ts";

export function describeStartupError(e: unknown, config: ServerConfig | null): string {
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();
  const code = (e as { code?: string } | null)?.code;
  if (e instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    // Deno.serve names no port; aedes (node:net) puts it in the message
    const mqtt = config && msg.includes(`:${config.embeddedMqttPort}`);
    return mqtt
      ? `MQTT port ${config!.embeddedMqttPort} on ${
        config!.embeddedMqttHost
      } is already in use (set MQTT_PORT, or MQTT_URL for an external broker)`
      : `port ${config?.port ?? "?"} on ${config?.host ?? "?"} is already in use (another server running? set PORT)`;
  }
  if (/malformed|not a database|file is encrypted|disk I\/O error/i.test(msg)) {
    return `KV file ${config?.kvPath ?? "?"} is damaged or not a Deno KV database (${msg}); ` +
      `restore it from a backup, or move it away to start empty`;
  }
  if (e instanceof Deno.errors.PermissionDenied) return `permission denied: ${msg}`;
  return msg || "unknown error";
}
