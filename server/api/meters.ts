/** Read API for meters: latest readings, one meter, its history, and the live SSE stream. */
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { listHistory } from "../db/history.ts";
import { getLatest, listLatest } from "../db/meters.ts";
import { LiveFeed, toSnapshot } from "../live.ts";
import type { Extension } from "../context.ts";
import { DEVICE_ID } from "../../shared/telemetry.ts";

const timeParam = z.union([
  z.string().regex(/^\d+$/).transform(Number),
  z.string().datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const historyQuery = z.object({ from: timeParam.optional(), to: timeParam.optional() });

export function metersApi(): Extension {
  let live: LiveFeed | null = null;
  return {
    name: "meters-api",
    routes(app, ctx) {
      live = new LiveFeed(ctx.kv);
      app.get("/api/meters", async (c) => c.json(toSnapshot(await listLatest(ctx.kv), Date.now())));

      app.get("/api/meters/:id", async (c) => {
        const m = await getLatest(ctx.kv, c.req.param("id"));
        return m ? c.json(m) : c.json({ error: "no such meter" }, 404);
      });

      app.get("/api/meters/:id/history", async (c) => {
        const id = c.req.param("id");
        if (!DEVICE_ID.test(id)) return c.json({ error: "invalid meter id" }, 400);
        const q = historyQuery.safeParse(c.req.query());
        if (!q.success) {
          return c.json({ error: "from/to must be epoch milliseconds or ISO-8601 timestamps" }, 400);
        }
        const to = q.data.to ?? Date.now();
        const from = q.data.from ?? to - 3600_000;
        if (from > to) return c.json({ error: "from is after to" }, 400);
        return c.json({ deviceId: id, from, to, points: await listHistory(ctx.kv, id, from, to) });
      });

      app.get("/api/live", (c) =>
        streamSSE(c, async (stream) => {
          let unsubscribe = () => {};
          const done = new Promise<void>((resolve) => {
            stream.onAbort(() => resolve());
            unsubscribe = live!.subscribe((snap) => {
              stream.writeSSE({ event: "fleet", data: JSON.stringify(snap) }).catch(() => resolve());
            });
          });
          await done;
          unsubscribe();
        }));
    },
    stop() {
      live?.stop();
    },
  };
}
