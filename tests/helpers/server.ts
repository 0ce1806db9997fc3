/**
 * Start a real meterfleet server for a test: real KV file in a temp dir, the
 * embedded aedes broker (or an external one), real HTTP on a free port.
 *
 * Every test talks to it through `api()` (HTTP as a signed-in admin) and
 * `agentCredentials()` (MQTT/HTTP credentials for a bench agent), so access
 * control can change in one place without touching every test.
 */
import { type RunningServer, startServer } from "../../server/app.ts";
import { configFromEnv, type ServerConfig } from "../../server/config.ts";
import type { Extension } from "../../server/context.ts";
import { createLogger } from "../../shared/log.ts";
import type { Clock } from "../../shared/clock.ts";
import { freePort } from "./net.ts";
import { fetchAs, testAgentCredentials, testDeviceCredentials, type TestSession, testSession } from "./auth.ts";
import { SESSION_COOKIE } from "../../server/auth/middleware.ts";

export interface TestServer {
  server: RunningServer;
  url: string;
  brokerUrl: string;
  kv: Deno.Kv;
  dir: string;
  config: ServerConfig;
  /** fetch against the server as an admin (path like "/api/meters") */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** credentials a bench agent uses for MQTT (username/password) and HTTP (bearer token) */
  agentCredentials(
    agentId: string,
  ): Promise<{ username?: string; password?: string; token?: string; clientId?: string }>;
  /** MQTT credentials a deployed OpenBeken unit (or the OpenBeken simulator) uses for its topic */
  deviceCredentials(topic: string): Promise<{ username?: string; password?: string; clientId?: string }>;
  /** sign a Playwright page in (as an admin) before it opens pages; optional until sign-in exists */
  browserLogin?: (page: import("playwright-core").Page) => Promise<void>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** reuse a directory (restart tests); default: a fresh temp dir, removed on close */
  dir?: string;
  /** an external broker; default: embedded aedes on a free port */
  mqttUrl?: string;
  mqttShareGroup?: string | null;
  embeddedMqttPort?: number;
  port?: number;
  /** the OTA download responder's port (default: any free port) */
  otaHttpPort?: number;
  instanceId?: string;
  extensions?: Extension[];
  clock?: Clock;
  env?: Record<string, string>;
}

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "meterfleet-srv-" });
  const config: ServerConfig = {
    ...configFromEnv({ DATA_DIR: dir, FLEET_TZ: "UTC", ...opts.env }),
    port: opts.port ?? 0,
    otaHttpPort: opts.otaHttpPort ?? 0,
    embeddedMqttPort: opts.embeddedMqttPort ?? freePort(),
    mqttUrl: opts.mqttUrl ?? null,
    mqttShareGroup: opts.mqttShareGroup ?? null,
    instanceId: opts.instanceId ?? `test-${crypto.randomUUID().slice(0, 6)}`,
    logLevel: (Deno.env.get("TEST_LOG_LEVEL") as ServerConfig["logLevel"]) ?? "error",
  };
  const server = await startServer(config, {
    extensions: opts.extensions,
    clock: opts.clock,
    log: createLogger({ level: config.logLevel, fields: { instance: config.instanceId } }),
  });
  // access control is on (server/auth/): api() is a signed-in admin (session cookie, CSRF header on writes),
  // agent/device credentials are real ones issued in this server's KV (with the client id the broker expects)
  let admin: Promise<TestSession> | null = null;
  const asAdmin = () => admin ??= testSession(server.ctx.kv, "admin");
  return {
    server,
    url: server.url,
    brokerUrl: config.mqttUrl ?? server.ctx.broker!.url,
    kv: server.ctx.kv,
    dir,
    config,
    api: async (path, init) => fetchAs(server.url, await asAdmin(), path, init),
    agentCredentials: (agentId) => testAgentCredentials(server.ctx.kv, agentId),
    deviceCredentials: (topic) => testDeviceCredentials(server.ctx.kv, topic),
    browserLogin: async (page) => {
      const s = await asAdmin();
      await page.context().addCookies([{
        name: SESSION_COOKIE,
        value: s.token,
        url: server.url,
        httpOnly: true,
        sameSite: "Lax",
      }]);
    },
    close: async () => {
      await server.close();
      if (!opts.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
