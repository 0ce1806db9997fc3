/**
 * Stock-config inspection as a server feature: every stored backup is inspected once
 * (new ones when the flash API announces them, existing ones in the background at start),
 * and the result is kept by server/stock-config/store.ts. Routes:
 *   GET /api/units/:id/stock-config               the unit's stock config and proposed template
 *   GET /api/flash/batches/:batchId/stock-check   the batch's backups grouped by product key,
 *                                                 versions and schema, with the outliers named
 */
import type { Extension, ServerContext } from "../context.ts";
import {
  backupsToInspect,
  batchStockConfigs,
  inspectStoredBackup,
  noteBatchBackup,
  stockConfigForUnit,
} from "./store.ts";
import { getUnit } from "../inventory/units.ts";
import { findOutliers } from "../../shared/tuya-config/outliers.ts";
import { mayDownloadBackups } from "../flash/backups_api.ts";
import { authOf } from "../auth/middleware.ts";

export function stockConfigJob(): Extension {
  let stopped = false;
  let backfill: Promise<void> = Promise.resolve();
  // one inspection at a time: a 20-port batch must not stack twenty 2 MiB decodes at once
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (ctx: ServerContext, what: string, job: () => Promise<unknown>) => {
    queue = queue.then(job).then(
      () => {},
      (e) => ctx.log.warn("stock-config inspection failed", { what, error: e }),
    );
    return queue;
  };
  return {
    name: "stock-config",
    routes(app, ctx) {
      app.get("/api/units/:id/stock-config", async (c) => {
        const unit = await getUnit(ctx.kv, c.req.param("id"));
        if (!unit) return c.json({ error: "no such unit" }, 404);
        const config = await stockConfigForUnit(ctx.kv, unit);
        return c.json({
          unitId: unit.id,
          config: config && !mayDownloadBackups(authOf(c).principal) ? { ...config, sha256: null } : config,
        });
      });
      app.get(
        "/api/flash/batches/:batchId/stock-check",
        async (c) => c.json(await batchCheck(ctx, c.req.param("batchId"), mayDownloadBackups(authOf(c).principal))),
      );
    },
    start(ctx) {
      ctx.bus.on("flash.backup.stored", (e) => {
        if (stopped) return;
        enqueue(ctx, e.sha256, async () => {
          if (e.batchId) await noteBatchBackup(ctx.kv, e.batchId, e.sha256, e, ctx.clock.now());
          const r = await inspectStoredBackup(ctx.kv, ctx.backupKey, e.sha256, ctx.clock.now());
          // no sha256 at info level: it is the download name of a customer's backup
          ctx.log.info("stock backup inspected", {
            status: r?.status,
            productKey: r?.status === "found" ? r.inspection.productKey : undefined,
          });
        });
      }, "stock-config");
      backfill = (async () => {
        const todo = await backupsToInspect(ctx.kv);
        if (todo.length) ctx.log.info("inspecting stored backups", { count: todo.length });
        for (const sha of todo) {
          if (stopped) break;
          await enqueue(ctx, sha, () => inspectStoredBackup(ctx.kv, ctx.backupKey, sha, ctx.clock.now()));
        }
      })().catch((e) => ctx.log.warn("stock-config backfill failed", { error: e }));
    },
    async stop() {
      stopped = true;
      await backfill;
      await queue;
    },
  };
}

/**
 * `showSha`: for those who may download backups; others see "backup N" where a port is not
 * known (a backup's sha256 is its download name, server/flash/backups_api.ts).
 */
export async function batchCheck(ctx: ServerContext, batchId: string, showSha: boolean) {
  const rows = (await batchStockConfigs(ctx.kv, batchId)).map((r, i) => ({
    ...r,
    sha256: showSha ? r.sha256 : `backup ${i + 1}`,
  }));
  const items = rows.flatMap((r) =>
    r.config?.status === "found" ? [{ id: r.port ?? r.sha256, fp: r.config.fingerprint }] : []
  );
  const { outliers, splits } = findOutliers(items);
  return {
    batchId,
    units: rows.map((r) => ({
      port: r.port,
      sha256: r.sha256,
      status: r.config?.status ?? "pending",
      fingerprint: r.config?.status === "found" ? r.config.fingerprint : null,
    })),
    outliers,
    splits,
  };
}
