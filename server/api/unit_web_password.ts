/**
 * A unit's OpenBeken web password, for HTTP OTA delivery: set (PUT, JSON {"password": "…"}) or clear (DELETE).
 * It is sealed at once (server/db/unit_secrets.ts) and never returned: GET answers only whether one is set.
 */
import type { Extension } from "../context.ts";
import { actorOf } from "../auth/middleware.ts";
import { sealingKey } from "../auth/sealed.ts";
import {
  clearUnitWebPassword,
  setUnitWebPassword,
  UnitSecretInputError,
  unitWebPasswordInfo,
} from "../db/unit_secrets.ts";
import { readJson } from "./units.ts";

export function unitWebPasswordApi(): Extension {
  return {
    name: "unit-web-password-api",
    routes(app, ctx) {
      const key = () => sealingKey({ dataDir: ctx.config.dataDir, env: ctx.config.secretsKey });
      app.get("/api/units/:id/web-password", async (c) => {
        const info = await unitWebPasswordInfo(ctx.kv, c.req.param("id"));
        return c.json(info ? { set: true, ...info } : { set: false });
      });
      app.put("/api/units/:id/web-password", async (c) => {
        const b = await readJson(c.req.raw);
        if (!b.ok) return c.json({ error: b.error }, b.status);
        const password = (b.value as { password?: unknown } | null)?.password;
        if (typeof password !== "string") return c.json({ error: 'give {"password": "…"}' }, 400);
        try {
          await setUnitWebPassword(ctx.kv, await key(), c.req.param("id"), password, {
            by: actorOf(c),
            now: ctx.clock.now(),
          });
        } catch (e) {
          if (!(e instanceof UnitSecretInputError)) throw e;
          return c.json({ error: e.message }, /^no such unit/.test(e.message) ? 404 : 400);
        }
        return c.body(null, 204);
      });
      app.delete("/api/units/:id/web-password", async (c) => {
        await clearUnitWebPassword(ctx.kv, c.req.param("id"), { by: actorOf(c), now: ctx.clock.now() });
        return c.body(null, 204);
      });
    },
  };
}
