/**
 * Energy API: rollup series per unit / site / fleet, average power per minute,
 * the fleet table (kWh today and this month), CSV export of any range, site
 * mapping, and the OpenBeken units' presence.
 */
import { csvCell } from "../http/csv.ts";
import { parsedBody } from "../http/body.ts";
import { z } from "zod";
import { listHistory } from "../history/store.ts";
import {
  energyAt,
  energySeries,
  FLEET_ID,
  hourlyDense,
  isSiteName,
  listEnergyStates,
  listSites,
  rollupKey,
  type Scope,
  setSiteMapping,
} from "./store.ts";
import { listUnitPresence, setEnergyUnit } from "../openbeken/presence.ts";
import { bucketStart, type Level, LEVELS } from "./buckets.ts";
import { localIso, type Zone } from "../../shared/zone.ts";
import type { EnergyAccountant } from "./accountant.ts";
import { breakdownCsv, energyBreakdown, isPeriodKind, parseLocalDate, periodOf } from "./period.ts";
import type { App, ServerContext } from "../context.ts";
import { DEVICE_ID } from "../../shared/telemetry.ts";
import { recordAudit } from "../kv/audit.ts";
import { actorOf } from "../auth/actor.ts";

const timeParam = z.union([
  z.string().regex(/^\d+$/).transform(Number),
  z.string().datetime({ offset: true }).transform((s) => Date.parse(s)),
]);

const seriesQuery = z.object({
  scope: z.enum(["unit", "site", "fleet"]).default("unit"),
  id: z.string().max(64).optional(),
  level: z.enum([...LEVELS, "raw"]).default("day"),
  /** level=hour only: {from, stepMs, wh[]} with a value for every hour (zeros included) */
  format: z.enum(["points", "dense"]).default("points"),
  from: timeParam.optional(),
  to: timeParam.optional(),
}).superRefine((q, c) => {
  if (q.scope === "unit" && !(q.id && DEVICE_ID.test(q.id))) {
    c.addIssue({ code: "custom", message: "id: a meter id is required for scope=unit" });
  }
  if (q.scope === "site" && !(q.id && isSiteName(q.id))) {
    c.addIssue({ code: "custom", message: "id: a site is required for scope=site" });
  }
  if (q.level === "raw" && q.scope !== "unit") {
    c.addIssue({ code: "custom", message: "level=raw exists for one unit only" });
  }
});

/** Longest range per level, so one request stays a bounded scan. */
const MAX_RANGE_MS: Record<Level | "raw", number> = {
  raw: 8 * 86_400_000,
  minute: 32 * 86_400_000,
  hour: 6 * 366 * 86_400_000,
  day: 100 * 366 * 86_400_000,
  month: 100 * 366 * 86_400_000,
};
const DEFAULT_RANGE_MS: Record<Level | "raw", number> = {
  raw: 3600_000,
  minute: 86_400_000,
  hour: 7 * 86_400_000,
  day: 31 * 86_400_000,
  month: 366 * 86_400_000,
};

type SeriesQuery = z.infer<typeof seriesQuery>;

function parseSeries(
  query: Record<string, string>,
  now: number,
): { q: SeriesQuery & { from: number; to: number; id: string } } | { error: string } {
  const p = seriesQuery.safeParse(query);
  if (!p.success) {
    return { error: p.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; ") };
  }
  const to = p.data.to ?? now;
  const from = p.data.from ?? to - DEFAULT_RANGE_MS[p.data.level];
  if (from > to) return { error: "from is after to" };
  if (to - from > MAX_RANGE_MS[p.data.level]) return { error: `range too long for level=${p.data.level}` };
  return { q: { ...p.data, from, to, id: p.data.scope === "fleet" ? FLEET_ID : p.data.id! } };
}

export interface FleetRow {
  deviceId: string;
  site: string | null;
  todayWh: number;
  monthWh: number;
  totalWh: number;
  lastTs: number;
}

export interface FleetEnergy {
  at: number;
  dayStart: number;
  monthStart: number;
  units: FleetRow[];
  sites: { site: string; todayWh: number; monthWh: number }[];
  fleet: { todayWh: number; monthWh: number };
}

/** kWh today and this month for every meter, every site and the fleet: two bucket reads per row. */
export async function fleetEnergy(kv: Deno.Kv, at: number, zone: Zone): Promise<FleetEnergy> {
  const dayStart = bucketStart("day", at, zone);
  const monthStart = bucketStart("month", at, zone);
  const states = (await listEnergyStates(kv)).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  const sites = await listSites(kv);
  const keys: Deno.KvKey[] = [];
  const push = (scope: Scope, id: string) =>
    keys.push(rollupKey(scope, id, "day", dayStart), rollupKey(scope, id, "month", monthStart));
  for (const s of states) push("unit", s.deviceId);
  for (const s of sites) push("site", s);
  push("fleet", FLEET_ID);
  const v = await energyAt(kv, keys);
  let i = 0;
  const units = states.map((s) => ({
    deviceId: s.deviceId,
    site: s.site,
    todayWh: v[i++],
    monthWh: v[i++],
    totalWh: s.totalMwh / 1000,
    lastTs: s.lastTs,
  }));
  const siteRows = sites.map((site) => ({ site, todayWh: v[i++], monthWh: v[i++] }));
  return { at, dayStart, monthStart, units, sites: siteRows, fleet: { todayWh: v[i++], monthWh: v[i++] } };
}

export function energyApi(app: App, ctx: ServerContext, opts: { accountant: () => EnergyAccountant }) {
  app.get("/api/energy/fleet", async (c) => c.json(await fleetEnergy(ctx.kv, ctx.clock.now(), ctx.config.zone)));

  app.get("/api/energy/series", async (c) => {
    const p = parseSeries(c.req.query(), ctx.clock.now());
    if ("error" in p) return c.json({ error: p.error }, 400);
    const { scope, id, level, from, to } = p.q;
    if (level === "raw") {
      const points = await listHistory(ctx.kv, id, from, to);
      return c.json({ scope, id, level, from, to, points });
    }
    const sopts = { zone: ctx.config.zone, now: ctx.clock.now() };
    if (p.q.format === "dense") {
      if (level !== "hour") return c.json({ error: "format=dense exists for level=hour" }, 400);
      const start = Math.floor(from / 3600_000) * 3600_000;
      const wh = Array.from(await hourlyDense(ctx.kv, scope, id, start, to, sopts), (x) => x / 1000);
      return c.json({
        scope,
        id,
        level,
        from: start,
        to,
        stepMs: 3600_000,
        wh,
        totalWh: wh.reduce((s, x) => s + x, 0),
      });
    }
    const points = await energySeries(ctx.kv, scope, id, level, from, to, sopts);
    return c.json({ scope, id, level, from, to, points, totalWh: points.reduce((s, x) => s + x.wh, 0) });
  });

  /** Average power per minute from the minute rollups: W = Wh in the minute × 60. */
  app.get("/api/energy/power", async (c) => {
    const p = parseSeries({ ...c.req.query(), level: "minute" }, ctx.clock.now());
    if ("error" in p) return c.json({ error: p.error }, 400);
    const { scope, id, from, to } = p.q;
    const points = (await energySeries(ctx.kv, scope, id, "minute", from, to)).map((x) => ({ ts: x.ts, w: x.wh * 60 }));
    return c.json({ scope, id, from, to, points });
  });

  app.get("/api/energy/export.csv", async (c) => {
    const period = c.req.query("period");
    if (period !== undefined) return await periodCsv(c.req.query(), period);
    const p = parseSeries(c.req.query(), ctx.clock.now());
    if ("error" in p) return c.json({ error: p.error }, 400);
    const { scope, id, level, from, to } = p.q;
    const lines: string[] = [];
    if (level === "raw") {
      lines.push("time_utc,ts_ms,voltage_v,current_a,power_w,energy_wh,frequency_hz,power_factor");
      for (const r of await listHistory(ctx.kv, id, from, to, 1_000_000)) {
        lines.push(
          [new Date(r.ts).toISOString(), r.ts, r.voltage, r.current, r.power, r.energyWh, r.frequency, r.powerFactor]
            .map(csvCell).join(","),
        );
      }
    } else {
      // the local column carries its offset: a spreadsheet shows the day as the household lived it, DST or not
      lines.push("bucket_start_utc,bucket_start_ms,kwh,bucket_start_local");
      for (
        const x of await energySeries(ctx.kv, scope, id, level, from, to, {
          zone: ctx.config.zone,
          now: ctx.clock.now(),
        })
      ) {
        lines.push(
          `${new Date(x.ts).toISOString()},${x.ts},${(x.wh / 1000).toFixed(6)},${localIso(ctx.config.zone, x.ts)}`,
        );
      }
    }
    const name = `energy-${scope}-${id}-${level}-${new Date(from).toISOString().slice(0, 10)}.csv`.replace(
      /[^A-Za-z0-9_.-]/g,
      "_",
    );
    return c.body(lines.join("\n") + "\n", 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
    });
  });

  /** What an energy page shows for a period (period=day|week|month|year&date=YYYY-MM-DD): buckets × meters + total. */
  async function periodCsv(query: Record<string, string>, period: string) {
    if (!isPeriodKind(period)) return Response.json({ error: "period: day, week, month or year" }, { status: 400 });
    if (query.date !== undefined && parseLocalDate(query.date) === null) {
      return Response.json({ error: "date: a local date YYYY-MM-DD" }, { status: 400 });
    }
    const p = parseSeries({ scope: query.scope, id: query.id, level: "day" } as Record<string, string>, 0);
    if ("error" in p) return Response.json({ error: p.error }, { status: 400 });
    const now = ctx.clock.now();
    const view = periodOf(ctx.config.zone, period, query.date, now);
    const b = await energyBreakdown(ctx.kv, ctx.config.zone, p.q.scope, p.q.id, view, now);
    const name = `energy-${p.q.scope}-${p.q.id}-${period}-${view.date}.csv`.replace(/[^A-Za-z0-9_.-]/g, "_");
    return new Response(breakdownCsv(b, ctx.config.zone, csvCell), {
      headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${name}"` },
    });
  }

  const siteBody = z.object({ site: z.string().refine(isSiteName, "1-80 characters, no '/'").nullable() }).strict();
  app.put("/api/energy/sites/:deviceId", async (c) => {
    const id = c.req.param("deviceId");
    if (!DEVICE_ID.test(id)) return c.json({ error: "invalid meter id" }, 400);
    const { site } = await parsedBody(c.req.raw, siteBody);
    await setSiteMapping(ctx.kv, id, site);
    opts.accountant().forgetSite(id);
    await recordAudit(ctx.kv, {
      actor: actorOf(c),
      action: "energy.site",
      target: `meter:${id}`,
      details: { site },
    }, ctx.clock.now());
    return c.json({ deviceId: id, site });
  });

  app.get("/api/openbeken/units", async (c) => c.json({ units: await listUnitPresence(ctx.kv) }));

  const unitBody = z.object({ energyUnit: z.enum(["Wh", "kWh"]) }).strict();
  app.put("/api/openbeken/units/:topic/energy-unit", async (c) => {
    const { energyUnit } = await parsedBody(c.req.raw, unitBody);
    if (!(await setEnergyUnit(ctx.kv, c.req.param("topic"), energyUnit))) {
      return c.json({ error: "no such unit" }, 404);
    }
    await recordAudit(ctx.kv, {
      actor: actorOf(c),
      action: "openbeken.energy-unit",
      target: `topic:${c.req.param("topic")}`,
      details: { energyUnit },
    }, ctx.clock.now());
    return c.json({ topic: c.req.param("topic"), energyUnit });
  });
}
