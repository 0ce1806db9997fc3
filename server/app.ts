/**
 * Server wiring: KV, MQTT (embedded aedes or external), extensions, HTTP app.
 * `startServer` is what main.ts, the tests and the benchmarks all use.
 */
import { serveStatic } from "hono/deno";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { compress, COMPRESSIBLE_CONTENT_TYPE_REGEX } from "hono/compress";
import { type Clock, systemClock } from "../shared/clock.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./broker.ts";
import { EventBus } from "./bus.ts";
import type { ServerConfig } from "./config.ts";
import type { App, AppEnv, Extension, ServerContext } from "./context.ts";
import { defaultExtensions } from "./extensions.ts";
import { connectServerMqtt } from "./mqtt.ts";
import { loadIslands } from "./web/islands.ts";
import { createBrokerGuard } from "./auth/broker.ts";
import { authMiddleware, securityHeaders } from "./auth/middleware.ts";
import { mountAuthApi } from "./auth/api.ts";
import { internalCredential } from "./auth/tokens.ts";
import { mountPages } from "./web/pages.ts";
import { ensurePrivateDir, ensurePrivateFile, prepareKvFile } from "./auth/files.ts";
import { BOOTSTRAP_FILE } from "./auth/web.ts";
import { loadBackupKey, SECRETS_KEY_FILE } from "./auth/backup_key.ts";
import { sealLegacyBackups } from "./flash/store.ts";
import { domainErrorResponse } from "./http/errors.ts";
import { knownRoutes } from "./http/known_routes.ts";

/** A path with a control character (decoded or still %-encoded) names no file. */
function hasControlChar(path: string): boolean {
  return [...path].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) ||
    /%[01][0-9a-f]|%7f/i.test(path);
}

export const PROJECT_ROOT = new URL("../", import.meta.url);

export interface RunningServer {
  ctx: ServerContext;
  app: App;
  /** http://host:port once listening */
  url: string;
  close(): Promise<void>;
}

/** Open the KV store; a local file is created 0600 in a 0700 directory (or tightened to that, with a warning). */
export async function openKv(
  path: string,
  warn: (msg: string, fields: Record<string, unknown>) => void = (msg, f) => console.error(`warning: ${msg}`, f),
): Promise<Deno.Kv> {
  if (!/^https?:\/\//.test(path)) await prepareKvFile(path, warn);
  return await Deno.openKv(path);
}

export async function startServer(
  config: ServerConfig,
  opts: { extensions?: Extension[]; clock?: Clock; log?: Logger; listen?: boolean } = {},
): Promise<RunningServer> {
  const log = opts.log ?? createLogger({ level: config.logLevel, fields: { instance: config.instanceId } });
  const clock = opts.clock ?? systemClock;
  const startedAt = clock.now();
  const warn = (msg: string, fields: Record<string, unknown>) => log.warn(msg, fields);
  await ensurePrivateDir(config.dataDir, warn);
  for (const f of [BOOTSTRAP_FILE, SECRETS_KEY_FILE]) await ensurePrivateFile(`${config.dataDir}/${f}`, warn);
  const backupKey = await loadBackupKey({ env: config.secretsKey, dataDir: config.dataDir });
  const kv = await openKv(config.kvPath, warn);
  const cleanup: (() => Promise<void> | void)[] = [() => kv.close()];
  try {
    let broker: EmbeddedBroker | null = null;
    if (!config.mqttUrl) {
      // access control (server/auth/): every MQTT client authenticates, every topic is checked
      const guard = createBrokerGuard(kv, log, { maxConnectionsPerCredential: config.mqttMaxConnections });
      broker = await startEmbeddedBroker({
        host: config.embeddedMqttHost,
        port: config.embeddedMqttPort,
        log,
        auth: guard.auth,
      });
      guard.attach(broker.aedes);
      cleanup.unshift(() => broker!.close(), () => guard.stop());
    }
    const internal = await internalCredential(kv);
    const mqtt = await connectServerMqtt(config.mqttUrl ?? broker!.url, {
      clientId: `meterfleet-server-${config.instanceId}`,
      username: internal.username,
      password: internal.password,
      log,
    });
    cleanup.unshift(() => mqtt.close());
    const ctx: ServerContext = {
      config,
      kv,
      mqtt,
      bus: new EventBus(log),
      log,
      clock,
      broker,
      startedAt,
      backupKey,
    };
    const sealed = await sealLegacyBackups(kv, backupKey);
    if (sealed) log.info("sealed backups stored before backups were encrypted", { backups: sealed });

    const app: App = new Hono<AppEnv>();
    app.use("*", async (c, next) => {
      c.set("ctx", ctx);
      await next();
    });
    app.use("*", securityHeaders());
    // gzip for pages, JSON, CSV and the live SSE stream (Deno's CompressionStream flushes each chunk: every
    // event leaves at once, and the shared window makes a delta after the first cost little)
    app.use(
      "*",
      compress({
        encoding: "gzip",
        contentTypeFilter: (type) => COMPRESSIBLE_CONTENT_TYPE_REGEX.test(type) || type.startsWith("text/event-stream"),
      }),
    );
    app.use("*", authMiddleware(knownRoutes(app))); // default-deny policy, CSRF, body caps (server/auth/policy.ts)
    app.onError((err, c) => {
      const known = domainErrorResponse(err);
      if (known) return known;
      log.error("request failed", { path: c.req.path, err });
      return c.json({ error: "internal error" }, 500);
    });
    mountAuthApi(app, ctx);
    const extensions = opts.extensions ?? defaultExtensions();
    for (const ext of extensions) ext.routes?.(app, ctx);
    // Hono's static middleware: the stylesheet from static/, uPlot's from its npm package
    app.get(
      "/static/uplot.css",
      serveStatic({ root: fileURLToPath(new URL("node_modules/uplot/dist/", PROJECT_ROOT)), path: "uPlot.min.css" }),
    );
    app.get(
      "/static/*",
      // a control character (an encoded NUL) names no file: refuse it before it reaches the file system
      (c, next) => hasControlChar(c.req.path) ? c.notFound() : next(),
      serveStatic({
        root: fileURLToPath(new URL("static/", PROJECT_ROOT)),
        rewriteRequestPath: (p) => p.slice("/static".length),
      }),
    );
    const islands = await loadIslands(PROJECT_ROOT, new URL(".cache/islands", PROJECT_ROOT).pathname);
    await mountPages(app, ctx, PROJECT_ROOT, islands);

    const started: Extension[] = [];
    for (const ext of extensions) {
      await ext.start?.(ctx);
      started.push(ext);
    }
    cleanup.unshift(async () => {
      for (const ext of started.reverse()) await ext.stop?.();
    });

    let url = "";
    if (opts.listen !== false) {
      const server = Deno.serve({ hostname: config.host, port: config.port, onListen: () => {} }, app.fetch);
      url = `http://${config.host}:${server.addr.port}`;
      cleanup.unshift(() => server.shutdown());
      log.info("meterfleet server listening", { url, kv: config.kvPath.replace(/\/\/.*@/, "//***@") });
    }
    return {
      ctx,
      app,
      url,
      close: async () => {
        for (const fn of cleanup) await fn();
      },
    };
  } catch (e) {
    for (const fn of cleanup) await Promise.resolve(fn()).catch(() => {});
    throw e;
  }
}
