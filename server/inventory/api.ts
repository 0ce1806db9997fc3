/** Inventory API: units, bench registration, rework log, the rework audit (JSON and CSV), revisions. */
import { z } from "zod";
import type { Extension } from "../context.ts";
import { listAudit } from "../kv/audit.ts";
import { csvResponse, toCsv } from "../http/csv.ts";
import { unitOtaHistory } from "../ota/store.ts";
import {
  allRework,
  appendRework,
  type ComponentState,
  createUnit,
  getUnit,
  listRework,
  listUnits,
  reworksBy,
  unitRevisions,
  unitsWithComponentState,
  updateUnit,
  upsertUnitFromBench,
} from "./units.ts";
import { getUnitPresence } from "../openbeken/presence.ts";
import { mayDownloadBackups, withoutBackupIds } from "../flash/backups_api.ts";
import { authOf } from "../auth/middleware.ts";
import { actorOf, withoutActorFields } from "../auth/actor.ts";
import { checked, jsonBody } from "../http/body.ts";

const editBody = z.object({
  reason: z.string().max(500).default(""),
  /** free text ("for Bob, by phone"); the actor is the signed-in user, this is only a note */
  onBehalfOf: z.string().trim().max(120).optional(),
}).passthrough();
const auditQuery = z.object({
  component: z.string().trim().min(1).max(40).default("RN8209C"),
  state: z.enum(["off", "on", "cut", "jumpered"]).default("off"),
});

/** A unit create/edit body: JSON, then the edit schema. Who and when come from the session and the server clock. */
async function readEdit(req: Request) {
  return checked(editBody, withoutActorFields(await jsonBody(req)));
}

export function unitsApi(): Extension {
  return {
    name: "inventory-api",
    routes(app, ctx) {
      const kv = ctx.kv;
      app.get("/api/units", async (c) => {
        const units = await listUnits(kv, c.req.query());
        return c.json(mayDownloadBackups(authOf(c).principal) ? units : units.map(withoutBackupIds));
      });

      app.post("/api/units", async (c) => {
        const { reason, onBehalfOf, ...fields } = await readEdit(c.req.raw);
        const by = actorOf(c);
        const u = await createUnit(kv, fields, { by, reason, onBehalfOf, now: ctx.clock.now() });
        return c.json(u, 201);
      });

      /** The flasher registers a freshly flashed unit. */
      app.post("/api/units/bench", async (c) => {
        const u = await upsertUnitFromBench(kv, withoutActorFields(await jsonBody(c.req.raw)) as never, {
          by: actorOf(c),
          now: ctx.clock.now(),
        });
        return c.json(u, 200);
      });

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

      app.patch("/api/units/:id", async (c) => {
        const { reason, onBehalfOf, ...fields } = await readEdit(c.req.raw);
        const by = actorOf(c);
        const u = await updateUnit(kv, c.req.param("id"), fields, { by, reason, onBehalfOf, now: ctx.clock.now() });
        return c.json(u);
      });

      app.post("/api/units/:id/rework", async (c) => {
        const body = withoutActorFields(await jsonBody(c.req.raw)) as object;
        const entry = await appendRework(
          kv,
          c.req.param("id"),
          { ...body, who: actorOf(c), at: ctx.clock.now() } as never,
        );
        return c.json(entry, 201);
      });

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
