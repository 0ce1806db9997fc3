/**
 * Backup downloads for people: GET /api/units/:id/backups/:sha (operators and admins,
 * policy.ts). The route names the unit, the backup must be one of that unit's, and
 * every download is audited (who, which unit, which backup) before a byte is sent.
 * Bench agents fetch only their own uploads (server/flash/api.ts).
 */
import type { Extension } from "../context.ts";
import { recordAudit } from "../kv/audit.ts";
import { SHA256_HEX } from "../kv/blobs.ts";
import { getBackupBytes, listBackupsForMac } from "./store.ts";
import { getUnit, type Unit } from "../inventory/units.ts";
import { actorOf } from "../auth/actor.ts";
import type { Principal } from "../auth/policy.ts";
import { roleAtLeast } from "../auth/policy.ts";

/** Who may see a backup's sha256 (its download name) and download it: operators and admins. */
export function mayDownloadBackups(p: Principal | null): boolean {
  return p?.kind === "user" && roleAtLeast(p.role, "operator");
}

/** A unit as a viewer sees it: that a backup is stored, not its sha256. */
export function withoutBackupIds<T extends Unit | null>(u: T): T {
  if (!u) return u;
  return {
    ...u,
    backups: u.backups.map((b) => ({ ...b, backupId: null, stored: true })),
    flashes: u.flashes.map((f) => ({ ...f, backupId: f.backupId ? null : f.backupId, backupStored: !!f.backupId })),
  } as unknown as T;
}

/** Every backup sha256 this unit's record or MAC links to. */
export async function backupShasOf(kv: Deno.Kv, unit: Unit): Promise<Set<string>> {
  const out = new Set<string>();
  for (const b of unit.backups) out.add(b.backupId);
  for (const f of unit.flashes) if (f.backupId) out.add(f.backupId);
  if (unit.mac) { for (const b of await listBackupsForMac(kv, unit.mac)) out.add(b.sha256); }
  return out;
}

export function backupsApi(): Extension {
  return {
    name: "backups-api",
    routes(app, ctx) {
      app.get("/api/units/:id/backups/:sha", async (c) => {
        const id = c.req.param("id");
        const sha = c.req.param("sha");
        if (!SHA256_HEX.test(sha)) return c.json({ error: "a backup is named by its sha256 (64 hex digits)" }, 400);
        const unit = await getUnit(ctx.kv, id);
        if (!unit) return c.json({ error: `no such unit ${id}` }, 404);
        if (!(await backupShasOf(ctx.kv, unit)).has(sha)) return c.json({ error: `no such backup of unit ${id}` }, 404);
        const bytes = await getBackupBytes(ctx.kv, ctx.backupKey, sha);
        if (!bytes) return c.json({ error: `backup of unit ${id} is listed but not stored` }, 404);
        const actor = actorOf(c);
        await recordAudit(ctx.kv, {
          actor,
          action: "backup.download",
          target: `unit:${id}`,
          details: { backup: sha, size: bytes.length },
        }, ctx.clock.now());
        ctx.log.info("backup downloaded", { unitId: id, by: actor });
        return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename="${id}-backup-${sha.slice(0, 12)}.bin"`,
          "cache-control": "no-store",
        });
      });
    },
  };
}
