/** Read API for meters: latest readings, one meter, its history, and the live SSE stream. */
import { z } from "zod";
import { listHistory } from "../history/store.ts";
import { getLatest, listRefusedMeters } from "./store.ts";
import { fleetTotals, type LiveFeed, liveOf, selectMeters } from "./live.ts";
import type { Extension } from "../context.ts";
import { DEVICE_ID } from "../../shared/telemetry.ts";
import { DEFAULT_LIVE_QUERY, type LiveQuery, meterStatus, parseLiveQuery } from "../../shared/fleet.ts";

/** /api/meters lists every meter unless asked for a page (its default order: by id). */
const API_QUERY: LiveQuery = { ...DEFAULT_LIVE_QUERY, sort: "id", dir: "asc", limit: 10_000 };

const timeParam = z.union([
  z.string().regex(/^\d+$/).transform(Number),
  z.string().datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const historyQuery = z.object({ from: timeParam.optional(), to: timeParam.optional() });
const refusedQuery = z.object({
  limit: z.string().regex(/^\d+$/).transform(Number).pipe(z.number().min(1).max(10_000)).default(100),
});

export function metersApi(): Extension {
  let live: LiveFeed | null = null;
  return {
    name: "meters-api",
    routes(app, ctx) {
      const { feed } = liveOf(ctx.kv, {
        log: ctx.log,
        intervalMs: ctx.config.liveIntervalMs,
        maxBehindMs: ctx.config.liveMaxBehindMs,
      });
      live = feed;
      app.get("/api/meters", async (c) => {
        const q = parseLiveQuery(new URL(c.req.url).searchParams, API_QUERY, 100_000);
        if ("error" in q) return c.json({ error: q.error }, 400);
        const state = await feed.fleet();
        const matched = selectMeters(state, q);
        const totals = fleetTotals(state);
        return c.json({
          at: state.at,
          ...totals,
          totalPowerW: totals.fleetPowerW,
          matched: matched.length,
          query: q,
          meters: matched.slice(q.offset, q.offset + q.limit),
        });
      });

      app.get("/api/meters/:id", async (c) => {
        const m = await getLatest(ctx.kv, c.req.param("id"));
        return m ? c.json({ ...m, status: meterStatus(m, Date.now()) }) : c.json({ error: "no such meter" }, 404);
      });

      // readings refused because another source owns the meter id: which meters, from whom, how many, when last
      app.get("/api/refused-readings", async (c) => {
        const q = refusedQuery.safeParse(c.req.query());
        if (!q.success) return c.json({ error: "limit must be an integer from 1 to 10000" }, 400);
        return c.json(await listRefusedMeters(ctx.kv, { limit: q.data.limit }));
      });

      app.get("/api/meters/:id/refused", async (c) => {
        const id = c.req.param("id");
        if (!DEVICE_ID.test(id)) return c.json({ error: "invalid meter id" }, 400);
        return c.json(await listRefusedMeters(ctx.kv, { deviceId: id }));
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

      // one page of the live view: a snapshot, then deltas (server/meters/live.ts); the page's query is in the URL
      app.get("/api/live", async (c) => {
        const q = parseLiveQuery(new URL(c.req.url).searchParams);
        if ("error" in q) return c.json({ error: q.error }, 400);
        const first = feed.page(await feed.fleet(), q);
        return new Response(live!.stream(q, first), {
          headers: {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
          },
        });
      });
    },
    stop() {
      live?.stop();
    },
  };
}
