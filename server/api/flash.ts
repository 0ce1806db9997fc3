/**
 * Bench flashing API.
 *
 * Agents (under /api/agents/:agentId/flash, covered by the agent:self rule):
 *   GET  backups/:sha                 {exists, backup?, parts?: indexes already staged}; "exists" only for
 *                                     a backup this agent uploaded itself (another bench's backup is
 *                                     uploaded again, which proves the bytes, and stored once)
 *   PUT  backups/:sha/parts/:n        one ≤ 60,000-byte part (fits the default body cap; resumable)
 *   POST backups/:sha/commit          {parts, size, chip, mac?, flashId?, benchHost?, port?}
 *                                     → parts joined, sha256 checked, stored once → {id, existed}
 *   GET  backups/:sha/bytes           a stored backup this agent uploaded (restore); operators download
 *                                     backups from /api/units/:id/backups/:sha (audited, server/api/backups.ts)
 *   GET  firmware/:sha                a registered firmware image (server/db/firmware.ts)
 *   POST units                        register/update the unit in inventory after a job
 *   POST credentials {topic}          the unit's MQTT user/password, derived from the fleet secret
 *                                     (server/db/tokens.ts unitSecret; the broker derives the same),
 *                                     so the secret itself never leaves the server
 *   POST batches/:batchId/progress    {rows: [...]} live progress for the batch page
 * Viewers: GET /api/flash/batches, GET /api/flash/live (SSE, "batches" events).
 */
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { Extension, ServerContext } from "../context.ts";
import { getBlob, sealBytes, SHA256_HEX, sha256Hex, unsealBytes } from "../db/blobs.ts";
import { batchProgressBody } from "../../shared/flash-progress.ts";
import {
  agentBackedUpTopic,
  agentHasBackup,
  backupExists,
  getBackup,
  getBackupBytes,
  listBackupsForMac,
  listBatches,
  putBatchProgress,
  storeBackup,
} from "../db/flash.ts";
import { UnitInputError, upsertUnitFromBench } from "../db/units.ts";
import { readCapped } from "./firmware.ts";
import { OBK_TOPIC, unitSecret } from "../db/tokens.ts";
import { unitMqttCredentials } from "../../shared/obk-config.ts";
import { authOf } from "../auth/middleware.ts";

export const UPLOAD_PART_BYTES = 60_000;
const STAGE_TTL_MS = 24 * 3600_000;
const MAX_BACKUP_BYTES = 16 * 1024 * 1024;

const commitBody = z.object({
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
  chip: z.string().min(1).max(20),
  mac: z.string().max(32).nullish(),
  flashId: z.number().int().nullish(),
  bootloader: z.string().max(40).nullish(),
  backupId: z.string().max(120).nullish(),
  backupSha256: z.string().max(64).nullish(),
  firmware: z.object({ name: z.string().max(120), sha256: z.string(), addr: z.number(), length: z.number() }).nullish(),
  configWritten: z.boolean().optional(),
  topic: z.string().max(64).nullish(),
  benchHost: z.string().min(1).max(80),
  port: z.string().max(200).optional(),
  /** sent by older agents; ignored: the server clock dates the registration */
  at: z.string().optional(),
});

const partContext = (agentId: string, sha: string, n: number) => `meterfleet-upload:${agentId}:${sha}:${n}`;
const BATCH_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const chipName = (c: string) => c.toUpperCase(); // inventory spells chips "BK7231N"

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
        const parts: number[] = [];
        for await (const e of kv.list({ prefix: ["flash_upload", c.req.param("agentId"), sha] })) {
          parts.push(e.key[3] as number);
        }
        return c.json({ exists: false, parts }, 404);
      });

      app.put(`${base}/backups/:sha/parts/:n`, async (c) => {
        const sha = c.req.param("sha");
        const n = Number(c.req.param("n"));
        if (!SHA256_HEX.test(sha) || !Number.isInteger(n) || n < 0 || n > 1000) {
          return c.json({ error: "bad part" }, 400);
        }
        const bytes = await readCapped(c.req.raw, UPLOAD_PART_BYTES);
        if (!bytes) return c.json({ error: `a part is at most ${UPLOAD_PART_BYTES} bytes` }, 413);
        // staged parts are sealed too: a deleted KV value's page keeps its bytes until reused
        const agentId = c.req.param("agentId");
        const sealed = await sealBytes(ctx.backupKey, partContext(agentId, sha, n), bytes);
        await kv.set(["flash_upload", agentId, sha, n], sealed, { expireIn: STAGE_TTL_MS });
        return c.body(null, 204);
      });

      app.post(`${base}/backups/:sha/commit`, async (c) => {
        const agentId = c.req.param("agentId");
        const sha = c.req.param("sha");
        if (!SHA256_HEX.test(sha)) return c.json({ error: "bad sha256" }, 400);
        const body = commitBody.safeParse(await c.req.json().catch(() => null));
        if (!body.success) return c.json({ error: body.error.issues[0].message }, 400);
        const m = body.data;
        if (await backupExists(kv, sha) && await agentHasBackup(kv, agentId, sha)) {
          const bytes = (await getBackupBytes(kv, ctx.backupKey, sha))!;
          const { backup } = await storeBackup(kv, ctx.backupKey, bytes, toMeta(m, agentId));
          announceBackup(ctx, sha, m, agentId);
          return c.json({ id: sha, existed: true, backup });
        }
        const bytes = new Uint8Array(m.size);
        let off = 0;
        for (let i = 0; i < m.parts; i++) {
          const stored = (await kv.get<Uint8Array>(["flash_upload", agentId, sha, i])).value;
          const part = stored && await unsealBytes(ctx.backupKey, partContext(agentId, sha, i), stored);
          if (!part) return c.json({ error: `part ${i} missing` }, 409);
          if (off + part.length > m.size) return c.json({ error: "parts exceed the declared size" }, 400);
          bytes.set(part, off);
          off += part.length;
        }
        if (off !== m.size) return c.json({ error: `parts hold ${off} bytes, declared ${m.size}` }, 400);
        // a backup that does not hash to its name is never stored as good
        if (await sha256Hex(bytes) !== sha) return c.json({ error: "sha256 mismatch: upload corrupted" }, 422);
        const { backup, existed } = await storeBackup(kv, ctx.backupKey, bytes, toMeta(m, agentId));
        const op = kv.atomic();
        for (let i = 0; i < m.parts; i++) op.delete(["flash_upload", agentId, sha, i]);
        await op.commit();
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
        const body = unitBody.safeParse(await c.req.json().catch(() => null));
        if (!body.success) return c.json({ error: body.error.issues[0].message }, 400);
        const u = body.data;
        if (!u.mac) return c.json({ error: "a unit without a MAC cannot be registered" }, 422);
        try {
          const backupId = u.backupId ?? u.backupSha256 ?? null;
          const earlierBackups = (await listBackupsForMac(kv, u.mac))
            .filter((b) => b.sha256 !== backupId)
            .map((b) => ({ backupId: b.sha256, at: b.at, benchHost: b.benchHost }));
          const unit = await upsertUnitFromBench(kv, {
            earlierBackups,
            mac: u.mac,
            chip: chipName(u.chip),
            flashId: u.flashId != null ? u.flashId.toString(16).padStart(6, "0") : null,
            backupId,
            firmware: u.firmware?.name ?? null,
            benchHost: u.benchHost,
            jobId: u.port ? `${c.req.param("agentId")}:${u.port}`.slice(0, 80) : undefined,
            // the provisioned MQTT topic: the OpenBeken ingest matches the unit by it when it comes online
            topic: u.topic ?? undefined,
            // who and when: the authenticated agent and the server clock (the agent's own `at` is ignored)
          }, { by: `agent:${c.req.param("agentId")}`, now: ctx.clock.now() });
          return c.json({ unitId: unit.id });
        } catch (e) {
          if (e instanceof UnitInputError) return c.json({ error: e.message }, 400);
          throw e;
        }
      });

      app.post(`${base}/credentials`, async (c) => {
        const body = z.object({ topic: z.string().regex(OBK_TOPIC) }).safeParse(await c.req.json().catch(() => null));
        if (!body.success) return c.json({ error: "topic: an OpenBeken topic (letters, digits, _ . -)" }, 400);
        if (!(await agentBackedUpTopic(kv, c.req.param("agentId")!, body.data.topic))) {
          return c.json({
            error: `no backup of a unit named ${body.data.topic} came from this bench: back it up first`,
          }, 403);
        }
        const secret = await unitSecret(kv, true);
        if (!secret) return c.json({ error: "no fleet secret" }, 500);
        ctx.log.info("unit credentials issued", { topic: body.data.topic, agentId: c.req.param("agentId") });
        return c.json(await unitMqttCredentials(secret, body.data.topic));
      });

      app.post(`${base}/batches/:batchId/progress`, async (c) => {
        const batchId = c.req.param("batchId");
        if (!BATCH_ID.test(batchId)) return c.json({ error: "bad batch id" }, 400);
        const body = batchProgressBody.safeParse(await c.req.json().catch(() => null));
        if (!body.success) return c.json({ error: body.error.issues[0].message }, 400);
        try {
          await putBatchProgress(kv, batchId, c.req.param("agentId"), body.data.rows);
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
