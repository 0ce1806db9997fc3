/**
 * The OTA rollout extension: presence of OpenBeken units, delivery, the
 * engine loop, and the firmware download route units pull from.
 */
import type { Extension, ServerContext } from "../context.ts";
import { openBlobStream } from "../db/blobs.ts";
import { getDevice, getRollout, transitionDeviceFresh } from "../db/ota.ts";
import { createDelivery } from "./delivery.ts";
import { RolloutEngine } from "./engine.ts";
import { kvPresence } from "./presence.ts";
import { sealingKey } from "../auth/sealed.ts";

export interface OtaOptions {
  /** engine step period; tests use tens of ms */
  tickMs?: number;
}

export function otaRollouts(opts: OtaOptions = {}): Extension {
  const tickMs = opts.tickMs ?? Number(Deno.env.get("OTA_TICK_MS") ?? 1000);
  let engine: RolloutEngine | null = null;
  let delivery: ReturnType<typeof createDelivery> | null = null;
  return {
    name: "ota-rollouts",
    routes(app, ctx) {
      // Per-device download: OpenBeken's ota_http GETs this over plain HTTP.
      app.get("/fw/:rid/:uid/:file", async (c) => {
        const { rid, uid } = c.req.param();
        const r = (await getRollout(ctx.kv, rid)).value;
        const d = (await getDevice(ctx.kv, rid, uid)).value;
        if (!r || !d) return c.text("no such rollout target", 404);
        if (!["commanded", "downloading", "rebooting"].includes(d.state)) {
          return c.text(`this unit is ${d.state} in rollout ${rid}: not commanded`, 409);
        }
        await transitionDeviceFresh(ctx.kv, rid, uid, ["commanded"], "downloading", {
          now: ctx.clock.now(),
          note: "image requested",
        });
        const done = () =>
          transitionDeviceFresh(ctx.kv, rid, uid, ["downloading"], "rebooting", {
            now: ctx.clock.now(),
            note: "image sent",
          })
            .catch((e) => ctx.log.warn("ota state update failed", { err: e }));
        const s = await openBlobStream(ctx.kv, r.firmwareSha, { onDone: () => void done() });
        if (!s) return c.text("firmware missing", 410);
        return new Response(s.stream, {
          headers: { "content-type": "application/octet-stream", "content-length": String(s.meta.size) },
        });
      });
    },
    start(ctx: ServerContext) {
      const presence = kvPresence(ctx.kv);
      delivery = createDelivery({
        kv: ctx.kv,
        mqtt: ctx.mqtt,
        presence,
        log: ctx.log,
        clock: ctx.clock,
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
    },
  };
}
