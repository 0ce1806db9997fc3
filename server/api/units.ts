/** Inventory API: units, bench registration, rework log, the rework audit (JSON and CSV), revisions. */
import { z } from "zod";
import type { Extension } from "../context.ts";
import { auditOp, listAudit, recordAudit, toCsv } from "../db/audit.ts";
import { unitOtaHistory } from "../db/ota.ts";
import {
  allRework,
  appendCalibration,
  appendRework,
  type ComponentState,
  createUnit,
  getUnit,
  listRework,
  listUnits,
  reworksBy,
  UnitConflictError,
  UnitInputError,
  unitRevisions,
  unitsWithComponentState,
  updateUnit,
  upsertUnitFromBench,
} from "../db/units.ts";
import { getUnitPresence } from "../db/presence.ts";
import { mayDownloadBackups, withoutBackupIds } from "./backups.ts";
import { authOf } from "../auth/middleware.ts";
import { actorOf, withoutActorFields } from "../auth/actor.ts";

const MAX_JSON_BYTES = 64 * 1024;
const editBody = z.object({
  reason: z.string().max(500).default(""),
  /** free text ("for Bob, by phone"); the actor is the signed-in user, this is only a note */
  onBehalfOf: z.string().trim().max(120).optional(),
}).passthrough();
const auditQuery = z.object({
  component: z.string().trim().min(1).max(40).default("RN8209C"),
  state: z.enum(["off", "on", "cut", "jumpered"]).default("off"),
});

/** Parse a JSON body with a size cap; null + a 400/413 response on bad input. */
export async function readJson(
  req: Request,
): Promise<{ ok: true; value: unknown } | { ok: false; status: 400 | 413; error: string }> {
  const len = Number(req.headers.get("content-length") ?? 0);
  if (len > MAX_JSON_BYTES) return { ok: false, status: 413, error: `body over ${MAX_JSON_BYTES} bytes` };
  const text = await req.text();
  if (text.length > MAX_JSON_BYTES) return { ok: false, status: 413, error: `body over ${MAX_JSON_BYTES} bytes` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, status: 400, error: "body is not valid JSON" };
  }
}

/** A unit create/edit body: JSON, then the edit schema (first issue as the error). */
async function readEdit(req: Request) {
  const b = await readJson(req);
  if (!b.ok) return b;
  // who and when come from the session and the server clock: fields naming them are dropped
  const p = editBody.safeParse(withoutActorFields(b.value));
  return p.success
    ? { ok: true as const, value: p.data }
    : { ok: false as const, status: 400 as const, error: p.error.issues[0].message };
}

function errorStatus(e: unknown): { status: 400 | 404 | 409; error: string } | null {
  if (e instanceof UnitConflictError) return { status: 409, error: e.message };
  if (e instanceof UnitInputError) return { status: e.status === 404 ? 404 : 400, error: e.message };
  return null;
}

export function unitsApi(): Extension {
  return {
    name: "inventory-api",
    routes(app, ctx) {
      const kv = ctx.kv;
      const guard = async (fn: () => Promise<Response>) => {
        try {
          return await fn();
        } catch (e) {
          const s = errorStatus(e);
          if (s) return Response.json({ error: s.error }, { status: s.status });
          throw e;
        }
      };

      app.get("/api/units", async (c) => {
        const units = await listUnits(kv, c.req.query());
        return c.json(mayDownloadBackups(authOf(c).principal) ? units : units.map(withoutBackupIds));
      });

      app.post("/api/units", (c) =>
        guard(async () => {
          const p = await readEdit(c.req.raw);
          if (!p.ok) return c.json({ error: p.error }, p.status);
          const { reason, onBehalfOf, ...fields } = p.value;
          const by = actorOf(c);
          const u = await createUnit(kv, fields, { by, reason, now: ctx.clock.now() });
          await recordAudit(kv, {
            actor: by,
            action: "unit.create",
            target: `unit:${u.id}`,
            ...(onBehalfOf ? { details: { onBehalfOf } } : {}),
          }, ctx.clock.now());
          return c.json(u, 201);
        }));

      /** The flasher registers a freshly flashed unit. */
      app.post("/api/units/bench", (c) =>
        guard(async () => {
          const b = await readJson(c.req.raw);
          if (!b.ok) return c.json({ error: b.error }, b.status);
          const u = await upsertUnitFromBench(kv, withoutActorFields(b.value) as never, {
            by: actorOf(c),
            now: ctx.clock.now(),
          });
          return c.json(u, 200);
        }));

      app.get("/api/units/:id", async (c) => {
        const id = c.req.param("id");
        const unit = await getUnit(kv, id);
        if (!unit) return c.json({ error: "no such unit" }, 404);
        // a backup's sha256 is its download name: only for those who may download it
        const shown = mayDownloadBackups(authOf(c).principal) ? <T>(u: T) => u : withoutBackupIds;
        return c.json({
          unit: shown(unit),
          presence: unit.topic ? await getUnitPresence(kv, unit.topic) : null,
          rework: await listRework(kv, id),
          revisions: (await unitRevisions(kv, id)).map((r) => ({ ...r, before: shown(r.before) })),
          ota: (await unitOtaHistory(kv, id)).map(({ rollout, device }) => ({
            rollout: rollout.id,
            version: rollout.version,
            ...device,
          })),
        });
      });

      app.patch("/api/units/:id", (c) =>
        guard(async () => {
          const p = await readEdit(c.req.raw);
          if (!p.ok) return c.json({ error: p.error }, p.status);
          const { reason, onBehalfOf, ...fields } = p.value;
          const by = actorOf(c);
          const u = await updateUnit(kv, c.req.param("id"), fields, { by, reason, now: ctx.clock.now() });
          await recordAudit(
            kv,
            {
              actor: by,
              action: "unit.edit",
              target: `unit:${u.id}`,
              details: { reason, ...(onBehalfOf ? { onBehalfOf } : {}) },
            },
            ctx.clock.now(),
          );
          return c.json(u);
        }));

      app.post("/api/units/:id/rework", (c) =>
        guard(async () => {
          const b = await readJson(c.req.raw);
          if (!b.ok) return c.json({ error: b.error }, b.status);
          const entry = await appendRework(
            kv,
            c.req.param("id"),
            { ...withoutActorFields(b.value as object), who: actorOf(c), at: ctx.clock.now() } as never,
          );
          const op = kv.atomic();
          auditOp(op, {
            actor: entry.who,
            action: "unit.rework",
            target: `unit:${entry.unitId}`,
            details: {
              component: entry.component,
              action: entry.action,
              reason: entry.reason,
              ...(entry.onBehalfOf ? { onBehalfOf: entry.onBehalfOf } : {}),
            },
          }, entry.at);
          await op.commit();
          return c.json(entry, 201);
        }));

      app.post("/api/units/:id/calibration", (c) =>
        guard(async () => {
          const b = await readJson(c.req.raw);
          if (!b.ok) return c.json({ error: b.error }, b.status);
          const input = { ...withoutActorFields(b.value as object), by: actorOf(c), at: ctx.clock.now() };
          return c.json(await appendCalibration(kv, c.req.param("id"), input as never), 201);
        }));

      /** "Which units have the RN8209C desoldered and not yet resoldered?" */
      app.get("/api/rework/audit", async (c) => {
        const q = auditQuery.safeParse(c.req.query());
        if (!q.success) return c.json({ error: "state must be one of off, on, cut, jumpered" }, 400);
        const rows = await unitsWithComponentState(kv, q.data.component, q.data.state as ComponentState);
        const units = await Promise.all(rows.map(async (r) => ({ ...r, unit: await getUnit(kv, r.unitId) })));
        if (c.req.query("format") === "csv") {
          return csvResponse(
            `rework-${q.data.component}-${q.data.state}.csv`,
            toCsv(
              ["unit", "mac", "topic", "model", "site", "location", "component", "state", "since"],
              units.map((
                u,
              ) => [
                u.unitId,
                u.unit?.mac,
                u.unit?.topic,
                u.unit?.model,
                u.unit?.site,
                u.unit?.location,
                q.data.component,
                q.data.state,
                new Date(u.since).toISOString(),
              ]),
            ),
          );
        }
        return c.json({ component: q.data.component, state: q.data.state, units });
      });

      app.get("/api/rework/by/:who", async (c) => c.json(await reworksBy(kv, c.req.param("who"))));

      /** The whole rework log, one line per entry. */
      app.get("/api/rework.csv", async () => {
        const rows: unknown[][] = [];
        for await (const r of allRework(kv)) {
          rows.push([
            r.unitId,
            r.seq,
            new Date(r.at).toISOString(),
            r.component,
            r.action,
            r.reason,
            r.who,
            r.onBehalfOf ?? "",
            r.benchHost ?? "",
            r.photoNote ?? "",
          ]);
        }
        return csvResponse(
          "rework-log.csv",
          toCsv(
            ["unit", "seq", "at", "component", "action", "reason", "who", "on_behalf_of", "bench_host", "photo_note"],
            rows,
          ),
        );
      });

      app.get(
        "/api/audit",
        async (c) =>
          c.json(
            await listAudit(kv, {
              target: c.req.query("target"),
              limit: Math.min(5000, Number(c.req.query("limit") ?? 500) || 500),
            }),
          ),
      );
      app.get("/api/audit.csv", async (c) => {
        const entries = await listAudit(kv, { target: c.req.query("target"), limit: 100_000 });
        return csvResponse(
          "audit.csv",
          toCsv(
            ["at", "actor", "action", "target", "details"],
            entries.map((e) => [new Date(e.at).toISOString(), e.actor, e.action, e.target, e.details ?? ""]),
          ),
        );
      });
    },
  };
}

export function csvResponse(filename: string, body: string) {
  return new Response(body, {
    headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${filename}"` },
  });
}
