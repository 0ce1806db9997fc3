/**
 * GET /api/health: liveness of KV and MQTT, ingest counters (summed across
 * instances in KV), and the history compactor's last sweep (a `startedAt`
 * that stops moving means the log is no longer compacted).
 */
import { lastSweep } from "../db/history.ts";
import { readIngestCounters, readRejections } from "../db/meters.ts";
import type { Extension } from "../context.ts";
import { liveOf } from "../live.ts";

export function healthApi(): Extension {
  return {
    name: "health-api",
    routes(app, ctx) {
      app.get("/api/health", async (c) => {
        let kvOk = true;
        let counters, rejections, sweep;
        try {
          counters = await readIngestCounters(ctx.kv);
          rejections = await readRejections(ctx.kv);
          sweep = await lastSweep(ctx.kv);
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
          // live view watchers: what their streams hold (bounded per watcher), and those dropped for not reading
          live: liveOf(ctx.kv).feed.stats(),
          history: kvOk ? { compactEveryMs: ctx.config.historyCompactMs, lastSweep: sweep ?? null } : null,
        }, ok ? 200 : 503);
      });
    },
  };
}
