/**
 * Bench flashing API.
 *
 * Agents (under /api/agents/:agentId/flash, covered by the agent:self rule):
 *   GET  backups/:sha?upload=<id>     {exists, backup?, parts?: indexes this upload already staged}; "exists"
 *                                     only for a backup this agent uploaded itself (another bench's backup is
 *                                     uploaded again, which proves the bytes, and stored once)
 *   PUT  backups/:sha/parts/:n?upload=<id>   one ≤ 60,000-byte part (fits the default body cap; resumable)
 *   POST backups/:sha/commit          {upload, parts, size, chip, mac?, flashId?, benchHost?, port?}
 *                                     → this upload's parts joined, sha256 checked, stored once → {id, existed}
 *   GET  backups/:sha/bytes           a stored backup this agent uploaded (restore); operators download
 *                                     backups from /api/units/:id/backups/:sha (audited, server/flash/backups_api.ts)
 *   GET  firmware/:sha                a registered firmware image (server/firmware/store.ts)
 *   POST units                        register/update the unit in inventory after a job (batch, write,
 *                                     restore, backup) — only a unit this bench proved it backed up
 *   POST credentials {topic, mac}     the unit's MQTT user/password, derived from the fleet secret
 *                                     (server/auth/tokens.ts unitSecret; the broker derives the same),
 *                                     only for a unit this bench backed up and that is not deployed under
 *                                     another bench; the secret itself never leaves the server
 *   POST batches/:batchId/progress    {rows: [...]} live progress for the batch page
 * Viewers: GET /api/flash/batches, GET /api/flash/live (SSE, "batches" events).
 *
 * An upload is named by the agent (job, port, attempt): identical images from several
 * ports stage side by side (sealed with the backup key) and each commit removes only its own parts.
 */
import { jsonBody, parsedBody } from "../http/body.ts";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { Extension, ServerContext } from "../context.ts";
import { getBlob, SHA256_HEX, sha256Hex } from "../kv/blobs.ts";
import { batchProgressBody } from "../../shared/flash-progress.ts";
import {
  agentHasBackup,
  assembleUpload,
  backupExists,
  clearUpload,
  getBackup,
  getBackupBytes,
  listBackupsForMac,
  listBatches,
  provenBackupsOf,
  putBatchProgress,
  stagedParts,
  stagePart,
  storeBackup,
  UPLOAD_ID,
} from "./store.ts";
import {
  BENCH_JOB_KINDS,
  findUnitByMac,
  normalizeMac,
  type Unit,
  UnitConflictError,
  UnitInputError,
  upsertUnitFromBench,
} from "../inventory/units.ts";
import { recordAudit } from "../kv/audit.ts";
import { readCapped } from "../firmware/api.ts";
import { OBK_TOPIC, unitSecret } from "../auth/tokens.ts";
import { unitMqttCredentials } from "../../shared/obk-config.ts";
import { firmwareLabel, identifyFirmware } from "../../shared/firmware-id.ts";
import { profiles } from "../../shared/profiles/mod.ts";
import { authOf } from "../auth/middleware.ts";

export const UPLOAD_PART_BYTES = 60_000;
const MAX_BACKUP_BYTES = 16 * 1024 * 1024;

const commitBody = z.object({
  upload: z.string().regex(UPLOAD_ID, "upload: the upload's id (letters, digits, _ . ~ -)"),
  parts: z.number().int().positive().max(Math.ceil(MAX_BACKUP_BYTES / UPLOAD_PART_BYTES)),
  size: z.number().int().positive().max(MAX_BACKUP_BYTES),
  chip: z.string().min(1).max(20),
  mac: z.string().max(32).nullish(),
  flashId: z.union([z.string(), z.number()]).nullish(),
  benchHost: z.string().max(80).nullish(),
  port: z.string().max(200).nullish(),
  batchId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).nullish(),
});

const unitBody = z.object({
  kind: z.enum(BENCH_JOB_KINDS).default("batch"),
  chip: z.string().min(1).max(20),
  mac: z.string().max(32).nullish(),
  flashId: z.number().int().nullish(),
  bootloader: z.string().max(40).nullish(),
  backupId: z.string().max(120).nullish(),
  backupSha256: z.string().max(64).nullish(),
  firmware: z.object({
    name: z.string().max(400),
    sha256: z.string().regex(SHA256_HEX),
    addr: z.number(),
    length: z.number(),
    /** what the agent read from the image (shared/firmware-id.ts) */
    version: z.string().max(60).nullish(),
    chip: z.string().max(20).nullish(),
    label: z.string().max(120).nullish(),
  }).nullish(),
  /** a restore: the sha256 of the stored backup written back */
  restoredBackup: z.string().regex(SHA256_HEX).nullish(),
  /** the provisioning profile (shared/profiles): model, module and metering chip come from it */
  profile: z.string().max(60).nullish(),
  configWritten: z.boolean().optional(),
  topic: z.string().max(64).nullish(),
  benchHost: z.string().min(1).max(80),
  port: z.string().max(200).optional(),
  batchId: z.string().max(64).optional(),
  /** sent by older agents; ignored: the server clock dates the registration */
  at: z.string().optional(),
});

const BATCH_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const chipName = (c: string) => c.toUpperCase(); // inventory spells chips "BK7231N"
const baseName = (p: string) => p.split(/[\\/]/).pop() ?? p;

/** The agent that last flashed this unit (records before agentId carry it in jobId "agent:port"). */
function lastBenchAgent(u: Unit): string | null {
  const f = u.flashes.at(-1);
  if (!f) return null;
  return f.agentId ?? f.jobId?.split(":")[0] ?? null;
}

/**
 * A unit in the field (seen online or placed at a site) that another bench flashed last:
 * no other bench may speak for it (credentials, registrations) until it comes back to that bench.
 */
function deployedUnderOtherBench(u: Unit | null, agentId: string): string | null {
  if (!u || (u.lastSeen === null && !u.site)) return null;
  const last = lastBenchAgent(u);
  return last && last !== agentId ? last : null;
}

export function flashApi(): Extension {
  return {
    name: "flash-api",
    routes(app, ctx) {
      const base = "/api/agents/:agentId/flash";
      const kv = ctx.kv;

      app.get(`${base}/backups/:sha`, async (c) => {
        const sha = c.req.param("sha");
        if (!SHA256_HEX.test(sha)) return c.json({ error: "bad sha256" }, 400);
        if (await backupExists(kv, sha) && await agentHasBackup(kv, c.req.param("agentId"), sha)) {
          return c.json({ exists: true, backup: await getBackup(kv, sha) });
        }
        const upload = c.req.query("upload") ?? "";
        if (!UPLOAD_ID.test(upload)) return c.json({ exists: false, parts: [] }, 404);
        return c.json({
          exists: false,
          parts: await stagedParts(kv, { agentId: c.req.param("agentId"), sha256: sha, uploadId: upload }),
        }, 404);
      });

      app.put(`${base}/backups/:sha/parts/:n`, async (c) => {
        const sha = c.req.param("sha");
        const n = Number(c.req.param("n"));
        if (!SHA256_HEX.test(sha) || !Number.isInteger(n) || n < 0 || n > 1000) {
          return c.json({ error: "bad part" }, 400);
        }
        const upload = c.req.query("upload") ?? "";
        if (!UPLOAD_ID.test(upload)) {
          return c.json({ error: "?upload=<id> names the upload (job, port, attempt)" }, 400);
        }
        const bytes = await readCapped(c.req.raw, UPLOAD_PART_BYTES);
        if (!bytes) return c.json({ error: `a part is at most ${UPLOAD_PART_BYTES} bytes` }, 413);
        await stagePart(
          kv,
          ctx.backupKey,
          { agentId: c.req.param("agentId"), sha256: sha, uploadId: upload },
          n,
          bytes,
        );
        return c.body(null, 204);
      });

      app.post(`${base}/backups/:sha/commit`, async (c) => {
        const agentId = c.req.param("agentId");
        const sha = c.req.param("sha");
        if (!SHA256_HEX.test(sha)) return c.json({ error: "bad sha256" }, 400);
        const m = await parsedBody(c.req.raw, commitBody);
        const up = { agentId, sha256: sha, uploadId: m.upload };
        const refuse = (error: string, status: 400 | 409 | 422) => {
          ctx.log.warn("backup commit refused", { agentId, upload: m.upload, error });
          return c.json({ error }, status);
        };
        if (await backupExists(kv, sha) && await agentHasBackup(kv, agentId, sha)) {
          const bytes = (await getBackupBytes(kv, ctx.backupKey, sha))!;
          const { backup } = await storeBackup(kv, ctx.backupKey, bytes, toMeta(m, agentId));
          await clearUpload(kv, up);
          announceBackup(ctx, sha, m, agentId);
          return c.json({ id: sha, existed: true, backup });
        }
        const got = await assembleUpload(kv, ctx.backupKey, up, m.parts, m.size);
        if ("error" in got) return refuse(got.error, got.status);
        // a backup that does not hash to its name is never stored as good
        if (await sha256Hex(got.bytes) !== sha) return refuse("sha256 mismatch: upload corrupted", 422);
        const { backup, existed } = await storeBackup(kv, ctx.backupKey, got.bytes, toMeta(m, agentId));
        await clearUpload(kv, up);
        // no sha256 at info level: it is the download name of a customer's backup
        ctx.log.info("backup stored", { size: backup.size, agentId, existed });
        announceBackup(ctx, sha, m, agentId);
        return c.json({ id: sha, existed, backup });
      });

      app.get(`${base}/backups/:sha/bytes`, async (c) => {
        const who = authOf(c).principal;
        if (who?.kind !== "agent") {
          return c.json({ error: "operators download backups from /api/units/<unit id>/backups/<sha256>" }, 403);
        }
        const sha = c.req.param("sha");
        // another bench's backup is as absent as a missing one: its existence is not revealed
        const bytes = await agentHasBackup(kv, who.agentId, sha) ? await getBackupBytes(kv, ctx.backupKey, sha) : null;
        if (!bytes) return c.json({ error: "no such backup from this bench" }, 404);
        return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
      });

      app.get(`${base}/firmware/:sha`, async (c) => {
        const sha = c.req.param("sha");
        const id = (await kv.get<string>(["firmware_by_sha", sha])).value;
        const bytes = id ? await getBlob(kv, sha) : null;
        if (!bytes) return c.json({ error: "no such firmware" }, 404);
        return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
      });

      app.post(`${base}/units`, async (c) => {
        const agentId = c.req.param("agentId");
        const u = await parsedBody(c.req.raw, unitBody);
        if (!u.mac) return c.json({ error: "a unit without a MAC cannot be registered" }, 422);
        let mac: string;
        try {
          mac = normalizeMac(u.mac);
        } catch (e) {
          return c.json({ error: (e as Error).message }, 400);
        }
        const refuse = (error: string, status: 403 | 409 | 422) => {
          ctx.log.warn("bench registration refused", { agentId, mac, kind: u.kind, error });
          return c.json({ error }, status);
        };
        // a bench speaks only for units it backed up itself (a full image with this MAC in its TLV sector)
        const proven = await provenBackupsOf(kv, ctx.backupKey, agentId, mac);
        if (proven.length === 0) {
          return refuse(`this bench holds no verified backup of unit ${mac}: back it up on this bench first`, 403);
        }
        const backupId = u.backupId ?? u.backupSha256 ?? null;
        if (backupId && !proven.some((b) => b.sha256 === backupId)) {
          return refuse(`backup ${backupId.slice(0, 12)} is not a backup of ${mac} taken by this bench`, 403);
        }
        const existing = await findUnitByMac(kv, mac);
        const elsewhere = deployedUnderOtherBench(existing, agentId);
        if (elsewhere) {
          return refuse(`unit ${existing!.id} is deployed, last flashed by bench ${elsewhere}: refused`, 409);
        }
        let firmware: { label: string; sha256: string | null; version: string | null; stock: boolean } | null = null;
        if (u.kind === "restore") {
          const restored = u.restoredBackup ?? u.firmware?.sha256 ?? null;
          const bytes = restored && proven.some((b) => b.sha256 === restored)
            ? await getBackupBytes(kv, ctx.backupKey, restored)
            : null;
          if (!restored || !bytes) return refuse("a restore names a backup of this unit taken by this bench", 422);
          const id = identifyFirmware(bytes);
          firmware = id.family === "OpenBeken"
            ? { label: firmwareLabel(id), sha256: restored, version: id.version, stock: false }
            : {
              label: `stock firmware (backup ${restored.slice(0, 12)})`,
              sha256: restored,
              version: null,
              stock: true,
            };
        } else if (u.firmware) {
          const name = baseName(u.firmware.name);
          const id = u.firmware.version
            ? {
              family: "OpenBeken" as const,
              chip: u.firmware.chip ?? null,
              version: u.firmware.version,
              source: "embedded" as const,
              fileName: name,
            }
            : identifyFirmware(new Uint8Array(0), name);
          firmware = { label: firmwareLabel(id), sha256: u.firmware.sha256, version: id.version, stock: false };
        }
        const profile = u.profile ? profiles.get(u.profile) : undefined;
        if (u.profile && !profile) return refuse(`unknown profile ${u.profile}`, 422);
        try {
          const earlierBackups = (await listBackupsForMac(kv, mac))
            .filter((b) => b.sha256 !== backupId && proven.some((p) => p.sha256 === b.sha256))
            .map((b) => ({ backupId: b.sha256, at: b.at, benchHost: b.benchHost }));
          const unit = await upsertUnitFromBench(kv, {
            kind: u.kind,
            earlierBackups,
            mac,
            chip: chipName(u.chip),
            flashId: u.flashId != null ? u.flashId.toString(16).padStart(6, "0") : null,
            backupId,
            firmware: firmware?.label ?? null,
            firmwareSha256: firmware?.sha256 ?? null,
            firmwareVersion: firmware?.version ?? null,
            stockFirmware: firmware?.stock,
            model: profile?.id,
            module: profile?.board,
            meteringChip: profile?.transport.chip ?? (profile?.transport.kind === "tuyamcu" ? "TuyaMCU" : undefined),
            benchHost: u.benchHost,
            agentId,
            batchId: u.batchId,
            port: u.port,
            jobId: u.port ? `${agentId}:${u.port}`.slice(0, 80) : undefined,
            // the provisioned MQTT topic: the OpenBeken ingest matches the unit by it when it comes online
            topic: u.topic ?? undefined,
            // who and when: the authenticated agent and the server clock (the agent's own `at` is ignored)
          }, { by: `agent:${agentId}`, now: ctx.clock.now() });
          return c.json({ unitId: unit.id, firmware: firmware?.label ?? null });
        } catch (e) {
          if (e instanceof UnitInputError) return c.json({ error: e.message }, 400);
          if (e instanceof UnitConflictError) return refuse(e.message, 409);
          throw e;
        }
      });

      app.post(`${base}/credentials`, async (c) => {
        const agentId = c.req.param("agentId");
        const body = z.object({ topic: z.string().regex(OBK_TOPIC), mac: z.string().max(32) })
          .safeParse(await jsonBody(c.req.raw));
        if (!body.success) {
          return c.json({ error: "{topic, mac}: an OpenBeken topic (letters, digits, _ . -) and the unit's MAC" }, 400);
        }
        const { topic } = body.data;
        const refuse = (error: string, status: 400 | 403 | 409) => {
          ctx.log.warn("unit credentials refused", { topic, agentId, error });
          return c.json({ error }, status);
        };
        let mac: string;
        try {
          mac = normalizeMac(body.data.mac);
        } catch (e) {
          return refuse((e as Error).message, 400);
        }
        // OpenBeken names a unit by its last 4 MAC bytes (obk8C112233): the topic must be this MAC's
        const tail = mac.replaceAll(":", "").slice(4).toUpperCase();
        if (!topic.toUpperCase().endsWith(tail)) return refuse(`topic ${topic} is not unit ${mac}'s`, 403);
        if ((await provenBackupsOf(kv, ctx.backupKey, agentId, mac)).length === 0) {
          return refuse(`no verified backup of unit ${mac} came from this bench: back it up first`, 403);
        }
        const existing = await findUnitByMac(kv, mac);
        const elsewhere = deployedUnderOtherBench(existing, agentId);
        if (elsewhere) return refuse(`unit ${existing!.id} is deployed under bench ${elsewhere}`, 409);
        const secret = await unitSecret(kv, true);
        if (!secret) return c.json({ error: "no fleet secret" }, 500);
        await recordAudit(kv, {
          actor: `agent:${agentId}`,
          action: "unit.credentials.derive",
          target: `topic:${topic}`,
          details: { mac },
        }, ctx.clock.now());
        ctx.log.info("unit credentials issued", { topic, agentId });
        return c.json(await unitMqttCredentials(secret, topic));
      });

      app.post(`${base}/batches/:batchId/progress`, async (c) => {
        const batchId = c.req.param("batchId");
        if (!BATCH_ID.test(batchId)) return c.json({ error: "bad batch id" }, 400);
        const { rows } = await parsedBody(c.req.raw, batchProgressBody);
        try {
          await putBatchProgress(kv, batchId, c.req.param("agentId"), rows);
        } catch (e) {
          return c.json({ error: (e as Error).message }, 409);
        }
        return c.body(null, 204);
      });

      app.get("/api/flash/batches", async (c) => c.json({ batches: await listBatches(kv) }));

      // KV is the source of truth (any server instance may have received the update): poll it
      app.get("/api/flash/live", (c) =>
        streamSSE(c, async (stream) => {
          let open = true;
          stream.onAbort(() => {
            open = false;
          });
          let last = "";
          while (open) {
            const data = JSON.stringify(await listBatches(kv));
            if (data !== last) {
              last = data;
              await stream.writeSSE({ event: "batches", data }).catch(() => (open = false));
            }
            await stream.sleep(1000);
          }
        }));
    },
  };
}

/** Tell the features that read backups (stock-config inspection) that one was stored. */
function announceBackup(ctx: ServerContext, sha256: string, m: z.infer<typeof commitBody>, agentId: string) {
  ctx.bus.emit("flash.backup.stored", {
    sha256,
    mac: m.mac ?? null,
    agentId,
    port: m.port ?? null,
    batchId: m.batchId ?? null,
  });
}

function toMeta(m: z.infer<typeof commitBody>, agentId: string) {
  return {
    chip: m.chip,
    mac: m.mac ?? null,
    flashId: m.flashId == null
      ? null
      : typeof m.flashId === "number"
      ? m.flashId.toString(16).padStart(6, "0")
      : m.flashId,
    benchHost: m.benchHost ?? null,
    agentId,
    port: m.port ?? null,
  };
}
