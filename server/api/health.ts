/** GET /api/health: liveness of KV and MQTT, and ingest counters (summed across instances in KV). */
import { readIngestCounters, readRejections } from "../db/meters.ts";
import type { Extension } from "../context.ts";

export function healthApi(): Extension {
  return {
    name: "health-api",
    routes(app, ctx) {
      app.get("/api/health", async (c) => {
        let kvOk = true;
        let counters, rejections;
        try {
          counters = await readIngestCounters(ctx.kv);
          rejections = await readRejections(ctx.kv);
        } catch {
          kvOk = false;
        }
        const mqttOk = ctx.mqtt.connected();
        const ok = kvOk && mqttOk;
        return c.json({
          status: ok ? "ok" : "degraded",
          instance: ctx.config.instanceId,
          kv: kvOk ? "ok" : "unavailable",
          mqtt: mqttOk ? "connected" : "disconnected",
          broker: ctx.broker ? "embedded" : "external",
          ingest: counters ? { ...counters, rejected_by_code: rejections } : null,
        }, ok ? 200 : 503);
      });
    },
  };
}
