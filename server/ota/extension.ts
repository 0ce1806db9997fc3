/**
 * The OTA rollout extension: presence of OpenBeken units, delivery, the
 * engine loop, and the download responder units pull images from (its own
 * raw HTTP/1.1 socket on OTA_HTTP_PORT, not a route of the web app).
 */
import type { Extension, ServerContext } from "../context.ts";
import { createDelivery } from "./delivery.ts";
import { RolloutEngine } from "./engine.ts";
import { kvPresence } from "./presence.ts";
import { type OtaResponder, startOtaResponder } from "./responder.ts";
import { sealingKey } from "../auth/sealed.ts";

export interface OtaOptions {
  /** engine step period; tests use tens of ms */
  tickMs?: number;
}

export function otaRollouts(opts: OtaOptions = {}): Extension {
  const tickMs = opts.tickMs ?? Number(Deno.env.get("OTA_TICK_MS") ?? 1000);
  let engine: RolloutEngine | null = null;
  let delivery: ReturnType<typeof createDelivery> | null = null;
  let responder: OtaResponder | null = null;
  return {
    name: "ota-rollouts",
    start(ctx: ServerContext) {
      const presence = kvPresence(ctx.kv);
      try {
        responder = startOtaResponder({
          kv: ctx.kv,
          clock: ctx.clock,
          log: ctx.log,
          hostname: ctx.config.host,
          port: ctx.config.otaHttpPort,
        });
      } catch (e) {
        if (e instanceof Deno.errors.AddrInUse) {
          throw new Error(`OTA_HTTP_PORT ${ctx.config.otaHttpPort} is in use (set OTA_HTTP_PORT to a free port)`);
        }
        throw e;
      }
      ctx.log.info("OTA download responder listening", { port: responder.port });
      delivery = createDelivery({
        kv: ctx.kv,
        mqtt: ctx.mqtt,
        presence,
        log: ctx.log,
        clock: ctx.clock,
        ota: { port: responder.port, url: ctx.config.otaHttpUrl },
        sealKey: () => sealingKey({ dataDir: ctx.config.dataDir, env: ctx.config.secretsKey }),
      });
      engine = new RolloutEngine({
        kv: ctx.kv,
        clock: ctx.clock,
        log: ctx.log,
        presence,
        delivery,
        startedAt: ctx.startedAt,
      }, tickMs);
      engine.start();
    },
    async stop() {
      await engine?.stop();
      await delivery?.drain();
      await responder?.close();
    },
  };
}
