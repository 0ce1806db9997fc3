/** Bench flashing: live progress of every recent flash batch (one bar per adapter). */
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { listBatches } from "../server/db/flash.ts";
import FlashBatches from "../islands/FlashBatches.tsx";
import type { FlashBatch as Batch } from "../shared/flash-progress.ts";
import { batchCheck } from "../server/stock-config/extension.ts";
import { recentStockBatches } from "../server/db/stock_config.ts";
import { BatchStockChecks } from "../components/BatchStockCheck.tsx";
import { mayDownloadBackups } from "../server/api/backups.ts";
import { authOf } from "../server/auth/middleware.ts";

interface Data {
  batches: Batch[];
  checks: Awaited<ReturnType<typeof batchCheck>>[];
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const batches = await listBatches(ctx.app.kv);
  const ids = [...new Set([...batches.slice(0, 5).map((b) => b.batchId), ...await recentStockBatches(ctx.app.kv)])];
  const checks = await Promise.all(
    ids.map((id) => batchCheck(ctx.app, id, mayDownloadBackups(authOf(ctx.req).principal))),
  );
  return ctx.render({ batches, checks });
};

export default function FlashPage({ data }: PageProps<Data>) {
  return (
    <>
      <h1>Bench flashing</h1>
      <FlashBatches initial={data.batches} />
      <BatchStockChecks checks={data.checks} />
    </>
  );
}
