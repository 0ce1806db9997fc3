/** Bench flashing: live progress of every recent flash batch (one bar per adapter). */
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { listBatches } from "../server/db/flash.ts";
import FlashBatches from "../islands/FlashBatches.tsx";
import type { FlashBatch as Batch } from "../shared/flash-progress.ts";

export const handler: RouteHandler<Batch[]> = async (ctx) => ctx.render(await listBatches(ctx.app.kv));

export default function FlashPage({ data }: PageProps<Batch[]>) {
  return (
    <>
      <h1>Bench flashing</h1>
      <FlashBatches initial={data} />
    </>
  );
}
