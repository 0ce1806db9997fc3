/** Rollout API: create, list, one rollout with its devices, and operator actions. */
import type { Extension } from "../context.ts";
import { getFirmware } from "../firmware/store.ts";
import { actorOf } from "../auth/middleware.ts";
import { kvPresence } from "./presence.ts";
import { previewRollout, rolloutBlockers, type RolloutPreview } from "./preview.ts";
import {
  assertOtaImage,
  createRollout,
  getRollout,
  listDevices,
  listRollouts,
  type RolloutAction,
  rolloutAction,
  rolloutInput,
  RolloutInputError,
} from "./store.ts";
import { listUnits } from "../inventory/units.ts";
import { jsonBody } from "../http/body.ts";
import type { Zone } from "../../shared/zone.ts";

const ACTIONS: RolloutAction[] = ["pause", "resume", "cancel", "retry_failed"];

function parseRolloutBody(body: unknown) {
  const p = rolloutInput.safeParse(body);
  if (!p.success) {
    throw new RolloutInputError(p.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  }
  return p.data;
}

async function firmwareAndCandidates(kv: Deno.Kv, input: ReturnType<typeof parseRolloutBody>) {
  const fw = await getFirmware(kv, input.firmwareId);
  if (!fw) throw new RolloutInputError(`no such firmware ${input.firmwareId}`, "not_found");
  assertOtaImage(fw);
  const { fromVersion: _f, ...unitFilter } = input.filter;
  return { fw, candidates: await listUnits(kv, unitFilter) };
}

/** Used by the API and the rollout page's form. `createdBy` is the signed-in caller, never a body field. */
export async function createRolloutFrom(
  kv: Deno.Kv,
  body: unknown,
  now: number,
  origin: string,
  zone: Zone,
  createdBy: string,
) {
  const input = { ...parseRolloutBody(body), createdBy };
  const { fw, candidates } = await firmwareAndCandidates(kv, input);
  return await createRollout(kv, input, fw, candidates, { now, baseUrl: origin.replace(/^https:/, "http:"), zone });
}

/** The targets a rollout of this body would have, without creating it (the form's preview). */
export async function previewRolloutFrom(kv: Deno.Kv, body: unknown): Promise<RolloutPreview> {
  const input = parseRolloutBody(body);
  const { fw, candidates } = await firmwareAndCandidates(kv, input);
  return await previewRollout(input, fw, candidates, kvPresence(kv));
}

/** A rollout with its devices and, while it runs, why it is not progressing. */
export async function rolloutView(kv: Deno.Kv, id: string, now: number) {
  const rollout = (await getRollout(kv, id)).value;
  if (!rollout) return null;
  const devices = (await listDevices(kv, rollout.id)).map((e) => e.value);
  const live = rollout.status !== "finished" && rollout.status !== "cancelled";
  const waiting = live ? devices.filter((d) => d.state === "scheduled" || d.state === "skipped_offline") : [];
  const presence = await kvPresence(kv).load(waiting.map((d) => d.topic));
  return { rollout, devices, blockers: rolloutBlockers(rollout, devices, presence, now) };
}

export function rolloutsApi(): Extension {
  return {
    name: "rollouts-api",
    routes(app, ctx) {
      const kv = ctx.kv;
      app.get("/api/rollouts", async (c) => c.json(await listRollouts(kv)));
      app.post("/api/rollouts", async (c) => {
        const body = await jsonBody(c.req.raw);
        return c.json(
          await createRolloutFrom(kv, body, ctx.clock.now(), new URL(c.req.url).origin, ctx.config.zone, actorOf(c)),
          201,
        );
      });
      app.post("/api/rollouts/preview", async (c) => {
        return c.json(await previewRolloutFrom(kv, await jsonBody(c.req.raw)));
      });
      app.get("/api/rollouts/:id", async (c) => {
        const v = await rolloutView(kv, c.req.param("id"), ctx.clock.now());
        return v ? c.json(v) : c.json({ error: "no such rollout" }, 404);
      });
      app.post("/api/rollouts/:id/:action", async (c) => {
        const action = c.req.param("action") as RolloutAction;
        if (!ACTIONS.includes(action)) return c.json({ error: `action must be one of ${ACTIONS.join(", ")}` }, 400);
        return c.json(await rolloutAction(kv, c.req.param("id"), action, actorOf(c), ctx.clock.now()));
      });
    },
  };
}
