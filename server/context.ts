/**
 * What every server feature (extension) receives: the shared handles. Features
 * keep their own state in KV through their server/db module, never in memory
 * that a second server instance would not see.
 */
import type { Hono } from "hono";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/log.ts";
import type { EmbeddedBroker } from "./broker.ts";
import type { EventBus } from "./bus.ts";
import type { ServerConfig } from "./config.ts";
import type { ServerMqtt } from "./mqtt.ts";
import type { BlobKey } from "./kv/blobs.ts";

export interface ServerContext {
  config: ServerConfig;
  kv: Deno.Kv;
  mqtt: ServerMqtt;
  bus: EventBus;
  log: Logger;
  clock: Clock;
  /** null when MQTT_URL points at an external broker */
  broker: EmbeddedBroker | null;
  /** seals flash backups in KV: the secrets key, kept outside KV (server/auth/backup_key.ts) */
  backupKey: BlobKey;
  /**
   * clock time just before this server's broker and MQTT link came up: a
   * message ingested at or after it was heard by this server, while stored
   * state older than it may describe a connection that died with the last one
   */
  startedAt: number;
}

export type AppEnv = { Variables: { ctx: ServerContext } };
export type App = Hono<AppEnv>;

/** A self-contained feature: its MQTT subscriptions, bus handlers, timers and HTTP routes. */
export interface Extension {
  name: string;
  /** mount HTTP routes (API); pages come from routes/ */
  routes?(app: App, ctx: ServerContext): void;
  /** subscribe, start timers; called after the MQTT connection is up */
  start?(ctx: ServerContext): void | Promise<void>;
  /** stop timers and drain work; called on shutdown in reverse order */
  stop?(): void | Promise<void>;
}
