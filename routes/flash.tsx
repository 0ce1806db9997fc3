/** Bench flashing: start a job on a connected bench agent; live progress of every recent flash batch and its stock-config check. */
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { listBatches } from "../server/flash/store.ts";
import { type FlashBench, listBenches } from "../server/flash/jobs_store.ts";
import { type Firmware, listFirmware } from "../server/firmware/store.ts";
import { FlashJobError, startFlashJob } from "../server/flash/jobs.ts";
import { actorOf, authOf, csrfTokenOf } from "../server/auth/middleware.ts";
import { mayDownloadBackups } from "../server/flash/backups_api.ts";
import FlashBatches from "../islands/FlashBatches.tsx";
import type { FlashBatch as Batch } from "../shared/flash-progress.ts";
import { FLASH_JOB_KINDS, type FlashJobKind } from "../shared/flash-jobs.ts";
import type { ServerContext } from "../server/context.ts";
import { batchCheck } from "../server/stock-config/extension.ts";
import { recentStockBatches } from "../server/stock-config/store.ts";
import { BatchStockChecks } from "../components/BatchStockCheck.tsx";

interface Data {
  batches: Batch[];
  benches: FlashBench[];
  /** UART images a bench can write (the RBL OTA packages are for the air) */
  firmware: Firmware[];
  csrf: string;
  message?: string;
  ok?: boolean;
  checks: Awaited<ReturnType<typeof batchCheck>>[];
}

async function load(
  ctx: ServerContext,
  req: Request,
  message?: string,
  ok?: boolean,
): Promise<Data> {
  const csrf = csrfTokenOf(req);
  const kv = ctx.kv;
  const batches = await listBatches(kv);
  const ids = [...new Set([...batches.slice(0, 5).map((b) => b.batchId), ...await recentStockBatches(kv)])];
  return {
    batches,
    checks: await Promise.all(ids.map((id) => batchCheck(ctx, id, mayDownloadBackups(authOf(req).principal)))),
    benches: (await listBenches(kv)).filter((b) => b.online && b.ports.length > 0),
    firmware: (await listFirmware(kv)).filter((f) => f.kind === "uart_ua" || f.kind === "uart_qio"),
    csrf,
    message,
    ok,
  };
}

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    return ctx.render(await load(ctx.server, ctx.req));
  },
  async POST(ctx) {
    const form = await ctx.req.formData().catch(() => new FormData());
    const kind = String(form.get("kind") ?? "") as FlashJobKind;
    try {
      if (!FLASH_JOB_KINDS.includes(kind)) {
        throw new FlashJobError("choose what to do: backup, flash or provision", 400);
      }
      const job = await startFlashJob(ctx.server, {
        agentId: String(form.get("agentId") ?? ""),
        kind,
        ports: form.getAll("port").map(String),
        firmwareSha256: String(form.get("firmware") ?? "") || undefined,
      }, actorOf(ctx.req));
      return ctx.render(
        await load(
          ctx.server,
          ctx.req,
          `job ${job.jobId} sent: ${job.kind} on ${job.ports.join(", ")}`,
          true,
        ),
        { status: 202 },
      );
    } catch (e) {
      if (!(e instanceof FlashJobError)) throw e;
      return ctx.render(await load(ctx.server, ctx.req, `not started: ${e.message}`), {
        status: e.status,
      });
    }
  },
};

export default function FlashPage({ data }: PageProps<Data>) {
  return (
    <>
      <h1>Bench flashing</h1>
      {data.message && <p class={data.ok ? "badge" : "badge warn"} data-testid="message">{data.message}</p>}
      <h2>Start a job on a bench</h2>
      {data.benches.length === 0
        ? (
          <p class="muted">
            No bench agent is connected with flash ports. On a bench:{" "}
            <code>deno task agent run --id bench-1 --flash-port /dev/ttyUSB0 --server http://…</code>
          </p>
        )
        : data.benches.map((b) => (
          <form method="post" class="filters" data-bench={b.agentId} key={b.agentId}>
            <input type="hidden" name="_csrf" value={data.csrf} />
            <input type="hidden" name="agentId" value={b.agentId} />
            <b>{b.agentId}</b>
            {b.ports.map((p) => (
              <label key={p}>
                <input type="checkbox" name="port" value={p} /> <code>{p}</code>
              </label>
            ))}
            <label>
              do{" "}
              <select name="kind">
                <option value="backup">backup only</option>
                <option value="flash">back up + flash</option>
                {b.provision && <option value="provision">back up + flash + provision</option>}
              </select>
            </label>
            <label>
              image{" "}
              <select name="firmware">
                <option value="">–</option>
                {data.firmware.map((f) => <option key={f.sha256} value={f.sha256}>{f.filename}</option>)}
              </select>
            </label>
            <button type="submit">Start</button>
          </form>
        ))}
      <FlashBatches initial={data.batches} />
      <BatchStockChecks checks={data.checks} />
    </>
  );
}
