/**
 * Calibration API:
 *   GET  /api/units/:id/calibrations            full history, oldest first (…/calibrations.csv as CSV)
 *   POST /api/units/:id/calibrations            a bench calibration (chip, reference, raw, oldFactors, benchHost);
 *                                               `by` is the signed-in user (a `by` in the body is ignored)
 *   POST /api/units/:id/calibrations/apply      send reference V/I/P to a deployed OpenBeken unit over MQTT
 *                                               (cmnd/<topic>/VoltageSet, CurrentSet, PowerSet) and record it
 *   POST /api/agents/:agentId/calibrations/:unitId   a bench calibration from a bench agent (AGENT_TOKEN);
 *                                               the record's `by` is the agent (an operator's name goes in the note)
 * Each record is also summarised on the unit (server/inventory/units.ts appendCalibration) when the unit exists.
 */
import type { Context } from "hono";
import type { AppEnv, Extension } from "../context.ts";
import { actorOf, withoutActorFields } from "../auth/actor.ts";
import { csvResponse, toCsv } from "../http/csv.ts";
import { appendCalibration, getUnit } from "../inventory/units.ts";
import {
  type CalibrationEntry,
  calibrationHistory,
  CalibrationInputError,
  recordBenchCalibration,
  recordDeployedCalibration,
} from "./store.ts";

const MAX_BODY = 16 * 1024;

/** The JSON body with `by` set to the caller (a `by` or `at` in the body is dropped). */
async function body(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new CalibrationInputError(`body over ${MAX_BODY} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CalibrationInputError("body is not valid JSON");
  }
  return value && typeof value === "object" && !Array.isArray(value)
    ? { ...withoutActorFields(value), by: actorOf(c) }
    : value;
}

export function calibrationApi(): Extension {
  return {
    name: "calibration-api",
    routes(app, ctx) {
      const kv = ctx.kv;
      const summarise = async (e: CalibrationEntry) => {
        if (!(await getUnit(kv, e.unitId))) return;
        await appendCalibration(kv, e.unitId, {
          by: e.by,
          at: e.at,
          ...e.reference,
          note: `${e.mode} calibration #${e.seq}${e.chip ? ` (${e.chip})` : ""}`,
        }).catch((err) => ctx.log.warn("calibration summary on the unit failed", { unitId: e.unitId, err }));
      };
      const guard = async (fn: () => Promise<Response>) => {
        try {
          return await fn();
        } catch (e) {
          if (e instanceof CalibrationInputError) return Response.json({ error: e.message }, { status: 400 });
          // the shared math rejects "no load" / zero reference with a CodecError
          if ((e as { name?: string }).name === "CodecError") {
            return Response.json({ error: (e as Error).message, code: (e as { code: string }).code }, { status: 422 });
          }
          throw e;
        }
      };

      app.get("/api/units/:id/calibrations", async (c) => c.json(await calibrationHistory(kv, c.req.param("id"))));

      // the same history as CSV: one row per calibration, reference and readings/factors before and after
      app.get("/api/units/:id/calibrations.csv", async (c) => {
        const id = c.req.param("id");
        const t = (x: { voltage: number; current: number; power: number } | null | undefined) =>
          x ? [x.voltage, x.current, x.power] : ["", "", ""];
        const rows = (await calibrationHistory(kv, id)).map((e) => [
          e.unitId,
          e.seq,
          new Date(e.at).toISOString(),
          e.by,
          e.mode,
          e.chip ?? "",
          ...t(e.reference),
          ...t(e.oldFactors),
          ...t(e.factors),
          ...t(e.readingsBefore),
          ...t(e.readingsAfter),
          e.errorBeforePct?.power ?? "",
          e.errorAfterPct?.power ?? "",
          e.verified ?? "",
          e.benchHost ?? e.topic ?? "",
          e.note,
        ]);
        const q = ["v", "a", "w"];
        const header = [
          "unit",
          "seq",
          "at_utc",
          "by",
          "mode",
          "chip",
          ...q.map((x) => `reference_${x}`),
          ...q.map((x) => `factor_before_${x}`),
          ...q.map((x) => `factor_after_${x}`),
          ...q.map((x) => `reading_before_${x}`),
          ...q.map((x) => `reading_after_${x}`),
          "power_error_before_pct",
          "power_error_after_pct",
          "verified",
          "bench_or_topic",
          "note",
        ];
        return csvResponse(`calibrations-${id.replace(/[^A-Za-z0-9_.-]/g, "_")}.csv`, toCsv(header, rows));
      });

      app.post("/api/units/:id/calibrations", (c) =>
        guard(async () => {
          const e = await recordBenchCalibration(kv, c.req.param("id"), await body(c), ctx.clock.now());
          await summarise(e);
          return c.json(e, 201);
        }));

      // `deno task agent calibrate --unit … --server …` with the bench's own token: the actor is the agent
      app.post("/api/agents/:agentId/calibrations/:unitId", (c) =>
        guard(async () => {
          const agentId = c.req.param("agentId");
          const unitId = c.req.param("unitId");
          if (!(await getUnit(kv, unitId))) return c.json({ error: `no such unit ${unitId}` }, 404);
          // `by` is the caller (the agent); the operator's name at the bench goes into the note
          const input = await body(c) as Record<string, unknown>;
          const operator = typeof input.operator === "string" ? input.operator.slice(0, 60) : "";
          const { operator: _o, ...rest } = input;
          const e = await recordBenchCalibration(kv, unitId, {
            ...rest,
            note: [operator && `operator ${operator}`, typeof rest.note === "string" ? rest.note : ""].filter(Boolean)
              .join("; "),
          }, ctx.clock.now());
          await summarise(e);
          ctx.log.info("bench calibration stored", { unitId, agentId, seq: e.seq });
          return c.json(e, 201);
        }));

      app.post("/api/units/:id/calibrations/apply", (c) =>
        guard(async () => {
          const id = c.req.param("id");
          const unit = await getUnit(kv, id);
          if (!unit) return c.json({ error: `no such unit ${id}` }, 404);
          if (!unit.topic) return c.json({ error: `unit ${id} has no OpenBeken MQTT topic yet` }, 409);
          const e = await recordDeployedCalibration(kv, id, await body(c), {
            topic: unit.topic,
            chip: unit.meteringChip,
          }, ctx.clock.now());
          // OBK runs `cmnd/<topic>/<Command>` with the payload as its argument (reference §1.3)
          for (const cmd of e.commands) {
            const [name, value] = cmd.split(" ");
            await ctx.mqtt.publish(`cmnd/${unit.topic}/${name}`, value, { qos: 1 });
          }
          ctx.log.info("calibration sent to unit", { unitId: id, topic: unit.topic, seq: e.seq, by: e.by });
          await summarise(e);
          return c.json(e, 201);
        }));
    },
  };
}
