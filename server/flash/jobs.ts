/**
 * Flash jobs from the browser (the /flash page, a unit page's restore): checked here, sent to the
 * bench agent on its own job topic, run there like `agent flash batch`, progress back over HTTP as
 * any batch (/flash shows it live). Benches announce their flash ports (retained) and go offline
 * with their will; only a connected bench's announced ports can be targeted.
 */
import { parsedBody } from "../http/body.ts";
import type { Extension, ServerContext } from "../context.ts";
import { agentIdFromTopic, topics } from "../../shared/topics.ts";
import {
  benchAnnouncement,
  type CalibrationJob,
  calibrationJob,
  FLASH_JOB_KINDS,
  type FlashJob,
  flashJob,
  type FlashJobKind,
  flashTopics,
} from "../../shared/flash-jobs.ts";
import { z } from "zod";
import { actorOf } from "../auth/middleware.ts";
import { getBench, recordJob, setBenchAnnouncement, setBenchOnline } from "./jobs_store.ts";
import { getFirmware } from "../firmware/store.ts";
import { agentHasBackup, getBackup } from "./store.ts";
import { type CalibrationEntry, calibrationHistory } from "../calibration/store.ts";
import { getUnit } from "../inventory/units.ts";
import { recordAudit } from "../kv/audit.ts";

export class FlashJobError extends Error {
  constructor(message: string, readonly status: 400 | 404 | 409) {
    super(message);
  }
}

export interface FlashJobRequest {
  agentId: string;
  kind: FlashJobKind;
  ports: string[];
  firmwareSha256?: string;
  backupSha256?: string;
}

/** Check a request against what the bench announced and the server holds, send it, record who asked. */
export async function startFlashJob(ctx: ServerContext, req: FlashJobRequest, by: string): Promise<FlashJob> {
  const bench = await getBench(ctx.kv, req.agentId);
  if (!bench) throw new FlashJobError(`no bench agent ${req.agentId} takes flash jobs`, 404);
  if (!bench.online) throw new FlashJobError(`bench ${req.agentId} is not connected`, 409);
  const ports = [...new Set(req.ports)];
  if (ports.length === 0) throw new FlashJobError("choose at least one port", 400);
  const unknown = ports.filter((p) => !bench.ports.includes(p));
  if (unknown.length) throw new FlashJobError(`bench ${req.agentId} does not offer ${unknown.join(", ")}`, 400);
  if (req.kind === "provision" && !bench.provision) {
    throw new FlashJobError(`bench ${req.agentId} has no provisioning file (agent run --provision p.json)`, 409);
  }
  let firmware: FlashJob["firmware"];
  if (req.kind === "flash" || req.kind === "provision") {
    // the firmware store's index by content (server/firmware/store.ts)
    const id = req.firmwareSha256 ? (await ctx.kv.get<string>(["firmware_by_sha", req.firmwareSha256])).value : null;
    const fw = id ? await getFirmware(ctx.kv, id) : null;
    if (!fw) throw new FlashJobError("choose a firmware image from the firmware store", 400);
    firmware = { sha256: fw.sha256, name: fw.filename };
  }
  if (req.kind === "restore") {
    const sha = req.backupSha256 ?? "";
    if (!(await getBackup(ctx.kv, sha))) throw new FlashJobError("no such backup", 404);
    // the bench reads back only backups it took itself
    if (!(await agentHasBackup(ctx.kv, req.agentId, sha))) {
      throw new FlashJobError(`backup ${sha.slice(0, 12)} was not taken on bench ${req.agentId}`, 409);
    }
    if (ports.length !== 1) throw new FlashJobError("a restore goes onto one port", 400);
  }
  const now = ctx.clock.now();
  const job = flashJob.parse({
    jobId: `j-${new Date(now).toISOString().replace(/[-:]/g, "").slice(0, 15)}-${crypto.randomUUID().slice(0, 6)}`,
    kind: req.kind,
    ports,
    ...(firmware ? { firmware } : {}),
    ...(req.kind === "restore" ? { backupSha256: req.backupSha256 } : {}),
    requestedBy: by,
  });
  if (!(await recordJob(ctx.kv, { job, agentId: req.agentId, by, at: now }))) {
    throw new FlashJobError("job id clash; try again", 409);
  }
  await ctx.mqtt.publish(flashTopics.jobs(req.agentId), JSON.stringify(job), { qos: 1 });
  ctx.log.info("flash job sent", { jobId: job.jobId, agentId: req.agentId, kind: job.kind, ports, by });
  return job;
}

const jobBody = z.object({
  agentId: z.string().max(64),
  kind: z.enum(FLASH_JOB_KINDS),
  ports: z.array(z.string().max(200)).max(64),
  firmwareSha256: z.string().max(64).optional(),
  backupSha256: z.string().max(64).optional(),
}).strict();

/**
 * Calibrate the chip meter a connected bench agent polls on `port` against a reference load, for `unitId`:
 * the agent measures, applies the factors to its driver and stores the record (actor: the agent; the user
 * who asked is in its note). Resolves with the record once it is stored, or null after `waitMs`.
 */
export async function calibrateAtBench(
  ctx: ServerContext,
  req: {
    agentId: string;
    port: string;
    unitId: string;
    reference: { voltage: number; current: number; power: number };
  },
  by: string,
  opts: { waitMs?: number } = {},
): Promise<{ job: CalibrationJob; record: CalibrationEntry | null }> {
  const bench = await getBench(ctx.kv, req.agentId);
  if (!bench) throw new FlashJobError(`no bench agent ${req.agentId}`, 404);
  if (!bench.online) throw new FlashJobError(`bench ${req.agentId} is not connected`, 409);
  if (!bench.meters.some((m) => m.port === req.port)) {
    throw new FlashJobError(`bench ${req.agentId} polls no chip meter on ${req.port}`, 400);
  }
  if (!(await getUnit(ctx.kv, req.unitId))) throw new FlashJobError(`no such unit ${req.unitId}`, 404);
  const now = ctx.clock.now();
  const parsed = calibrationJob.safeParse({
    jobId: `j-${new Date(now).toISOString().replace(/[-:]/g, "").slice(0, 15)}-${crypto.randomUUID().slice(0, 6)}`,
    port: req.port,
    unitId: req.unitId,
    reference: req.reference,
    requestedBy: by,
  });
  if (!parsed.success) throw new FlashJobError(`reference: ${parsed.error.issues[0].message}`, 400);
  const job = parsed.data;
  const before = (await calibrationHistory(ctx.kv, req.unitId)).length;
  await recordAudit(ctx.kv, {
    actor: by,
    action: "calibration.bench.request",
    target: `unit:${req.unitId}`,
    details: { jobId: job.jobId, agentId: req.agentId, port: req.port, reference: req.reference },
  }, now);
  await ctx.mqtt.publish(flashTopics.calibrate(req.agentId), JSON.stringify(job), { qos: 1 });
  const deadline = Date.now() + (opts.waitMs ?? 20_000);
  while (Date.now() < deadline) {
    const hist = await calibrationHistory(ctx.kv, req.unitId);
    const rec = hist.slice(before).find((e) => e.note.includes(job.jobId));
    if (rec) return { job, record: rec };
    await new Promise((r) => setTimeout(r, 200));
  }
  return { job, record: null };
}

export function flashJobs(): Extension {
  return {
    name: "flash-jobs",
    routes(app, ctx) {
      // POST /api/flash/jobs {agentId, kind, ports, firmwareSha256?, backupSha256?} → the job sent
      app.post("/api/flash/jobs", async (c) => {
        const request = await parsedBody(c.req.raw, jobBody);
        try {
          const job = await startFlashJob(ctx, request, actorOf(c));
          return c.json(job, 202);
        } catch (e) {
          if (e instanceof FlashJobError) return c.json({ error: e.message }, e.status);
          throw e;
        }
      });
    },
    async start(ctx) {
      await ctx.mqtt.subscribe(flashTopics.allBenches, async (topic, payload) => {
        const agentId = agentIdFromBenchTopic(topic);
        if (!agentId) return;
        let parsed;
        try {
          parsed = benchAnnouncement.parse(JSON.parse(new TextDecoder().decode(payload)));
        } catch (e) {
          ctx.log.warn("bench announcement refused", { agentId, err: e });
          return;
        }
        await setBenchAnnouncement(ctx.kv, agentId, parsed, ctx.clock.now());
      });
      await ctx.mqtt.subscribe(topics.allAgentStatus, async (topic, payload) => {
        const agentId = agentIdFromTopic(topic);
        if (!agentId) return;
        await setBenchOnline(ctx.kv, agentId, new TextDecoder().decode(payload) === "online", ctx.clock.now());
      });
    },
  };
}

/** meterfleet/v1/agents/<id>/flash/bench → id */
function agentIdFromBenchTopic(topic: string): string | null {
  const parts = topic.split("/");
  if (parts.length !== 6 || parts[4] !== "flash" || parts[5] !== "bench") return null;
  return agentIdFromTopic([...parts.slice(0, 4), "status"].join("/"));
}
