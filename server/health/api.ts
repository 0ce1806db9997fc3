/**
 * GET /api/health: liveness of KV and MQTT, ingest counters (summed across
 * instances in KV), and the history compactor's last sweep (a `startedAt`
 * that stops moving means the log is no longer compacted). "kv" is "damaged" when
 * the last full read of the KV file (server/kv/check.ts) hit an error, even if
 * the sentinel still reads back.
 */
import { lastSweep } from "../history/store.ts";
import { readIngestCounters, readRejections } from "../meters/store.ts";
import type { Extension } from "../context.ts";
import { liveOf } from "../meters/live.ts";
import { type KvScan, kvSentinel, scanKv } from "../kv/check.ts";

export function healthApi(): Extension {
  let scan: KvScan | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  let running: Promise<void> | null = null;
  const stopping = new AbortController();
  return {
    name: "health-api",
    start(ctx) {
      const every = ctx.config.kvCheckMs;
      const run = () => {
        running ??= scanKv(ctx.kv, ctx.clock.now(), stopping.signal).then((r) => {
          scan = r;
          if (!r.ok) ctx.log.error("KV file is damaged: a full read failed", { kv: ctx.config.kvPath, err: r.error });
        }).finally(() => (running = null));
      };
      run();
      if (every > 0) timer = setInterval(run, every);
    },
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await running;
    },
    routes(app, ctx) {
      app.get("/api/health", async (c) => {
        let kvOk = true;
        let counters, rejections, sweep;
        let kvError: string | null = await kvSentinel(ctx.kv, ctx.config.instanceId, ctx.clock.now());
        try {
          counters = await readIngestCounters(ctx.kv);
          rejections = await readRejections(ctx.kv);
          sweep = await lastSweep(ctx.kv);
        } catch (e) {
          kvError ??= (e as Error).message;
        }
        if (kvError) kvOk = false;
        const damaged = scan !== null && !scan.ok;
        const mqttOk = ctx.mqtt.connected();
        const ok = kvOk && !damaged && mqttOk;
        return c.json({
          status: ok ? "ok" : "degraded",
          instance: ctx.config.instanceId,
          kv: !kvOk ? "unavailable" : damaged ? "damaged" : "ok",
          kvCheck: scan ? { ...scan, at: new Date(scan.at).toISOString() } : "running",
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
