/** Rollout API: create, list, one rollout with its devices, and operator actions. */
import type { Extension } from "../context.ts";
import { getFirmware } from "../db/firmware.ts";
import {
  createRollout,
  getRollout,
  listDevices,
  listRollouts,
  type RolloutAction,
  rolloutAction,
  rolloutInput,
  RolloutInputError,
} from "../db/ota.ts";
import { listUnits } from "../db/units.ts";
import { readJson } from "./units.ts";
import type { Zone } from "../../shared/zone.ts";
import { actorFieldError, actorOf, spoofedField } from "../auth/actor.ts";

const ACTIONS: RolloutAction[] = ["pause", "resume", "cancel", "retry_failed"];

/** Used by the API and the rollout page's form; `actor` is the signed-in user who creates it. */
export async function createRolloutFrom(
  kv: Deno.Kv,
  body: unknown,
  now: number,
  origin: string,
  zone: Zone,
  actor: string,
) {
  const spoof = spoofedField(body);
  if (spoof) throw new RolloutInputError(actorFieldError(spoof));
  const p = rolloutInput.safeParse({ ...(body as object), createdBy: actor });
  if (!p.success) {
    throw new RolloutInputError(p.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  }
  const fw = await getFirmware(kv, p.data.firmwareId);
  if (!fw) throw new RolloutInputError(`no such firmware ${p.data.firmwareId}`, "not_found");
  const { fromVersion: _f, ...unitFilter } = p.data.filter;
  const candidates = await listUnits(kv, unitFilter);
  return await createRollout(kv, p.data, fw, candidates, { now, baseUrl: origin.replace(/^https:/, "http:"), zone });
}

export function rolloutsApi(): Extension {
  return {
    name: "rollouts-api",
    routes(app, ctx) {
      const kv = ctx.kv;
      app.get("/api/rollouts", async (c) => c.json(await listRollouts(kv)));
      app.post("/api/rollouts", async (c) => {
        const b = await readJson(c.req.raw);
        if (!b.ok) return c.json({ error: b.error }, b.status);
        try {
          return c.json(
            await createRolloutFrom(
              kv,
              b.value,
              ctx.clock.now(),
              new URL(c.req.url).origin,
              ctx.config.zone,
              actorOf(c),
            ),
            201,
          );
        } catch (e) {
          if (e instanceof RolloutInputError) return c.json({ error: e.message }, 400);
          throw e;
        }
      });
      app.get("/api/rollouts/:id", async (c) => {
        const r = (await getRollout(kv, c.req.param("id"))).value;
        if (!r) return c.json({ error: "no such rollout" }, 404);
        const devices = (await listDevices(kv, r.id)).map((e) => e.value);
        return c.json({ rollout: r, devices });
      });
      app.post("/api/rollouts/:id/:action", async (c) => {
        const action = c.req.param("action") as RolloutAction;
        if (!ACTIONS.includes(action)) return c.json({ error: `action must be one of ${ACTIONS.join(", ")}` }, 400);
        const spoof = spoofedField(c.req.query());
        if (spoof) return c.json({ error: actorFieldError(spoof) }, 400);
        const by = actorOf(c);
        return c.json(await rolloutAction(kv, c.req.param("id"), action, by, ctx.clock.now()));
      });
    },
  };
}
