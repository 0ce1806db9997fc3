/**
 * A unit's OpenBeken web password, for HTTP OTA delivery: set (PUT, JSON {"password": "…"}) or clear (DELETE).
 * It is sealed at once (server/inventory/unit_secrets.ts) and never returned: GET answers only whether one is set.
 */
import type { Extension } from "../context.ts";
import { actorOf } from "../auth/middleware.ts";
import { sealingKey } from "../auth/sealed.ts";
import { clearUnitWebPassword, setUnitWebPassword, unitWebPasswordInfo } from "./unit_secrets.ts";
import { parsedBody } from "../http/body.ts";
import { z } from "zod";

const passwordBody = z.object({ password: z.string({ error: 'give {"password": "…"}' }) });

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
        const { password } = await parsedBody(c.req.raw, passwordBody);
        await setUnitWebPassword(ctx.kv, await key(), c.req.param("id"), password, {
          by: actorOf(c),
          now: ctx.clock.now(),
        });
        return c.body(null, 204);
      });
      app.delete("/api/units/:id/web-password", async (c) => {
        await clearUnitWebPassword(ctx.kv, c.req.param("id"), { by: actorOf(c), now: ctx.clock.now() });
        return c.body(null, 204);
      });
    },
  };
}
