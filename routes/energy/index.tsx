/** Fleet energy: a day / week / month / year stacked per meter, every meter and site in that period, CSV export. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { type FleetEnergy, fleetEnergy } from "../../server/energy/api.ts";
import { isUnitOnline, listUnitPresence, type UnitPresence } from "../../server/openbeken/presence.ts";
import { kwh } from "../../components/EnergyPanels.tsx";
import { energyAt } from "../../server/energy/store.ts";
import { type EnergyZoneRecord, getEnergyZone } from "../../server/energy/store.ts";
import { localIso, zoneByName } from "../../shared/zone.ts";
import {
  type EnergyBreakdown,
  energyBreakdown,
  isPeriodKind,
  periodKeys,
  periodOf,
} from "../../server/energy/period.ts";
import { EnergyPeriodView } from "../../components/EnergyPeriod.tsx";
import { Badge, Card, EmptyState, Num, RelativeTime, Stat, TableWrap } from "../../components/ui.tsx";
import type { Zone } from "../../shared/zone.ts";

/** Meters per page: the page stays the same size whatever the fleet's. */
const PAGE = 100;

interface Data {
  fleet: FleetEnergy;
  /** this page's meters, biggest consumers this month first, and where the page starts */
  units: FleetEnergy["units"];
  offset: number;
  b: EnergyBreakdown;
  siteKwh: Record<string, number>;
  zone: EnergyZoneRecord | null;
  presence: Record<string, Pick<UnitPresence, "online" | "version">>;
  fixedOffsetMin: number | null;
  tz: Zone;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const zone = ctx.server.config.zone;
  const now = ctx.server.clock.now();
  const kind = ctx.url.searchParams.get("period");
  const period = periodOf(zone, isPeriodKind(kind) ? kind : "day", ctx.url.searchParams.get("date"), now);
  const fleet = await fleetEnergy(ctx.server.kv, now, zone);
  const rawOffset = ctx.url.searchParams.get("offset") ?? "0";
  const offset = /^\d{1,9}$/.test(rawOffset) ? Number(rawOffset) : 0;
  const units = [...fleet.units]
    .sort((a, b) => b.monthWh - a.monthWh || a.deviceId.localeCompare(b.deviceId))
    .slice(offset, offset + PAGE);
  const shown = new Set(units.map((u) => u.deviceId));
  const presence: Data["presence"] = {};
  for (const p of await listUnitPresence(ctx.server.kv)) {
    if (shown.has(p.deviceId)) presence[p.deviceId] = { online: isUnitOnline(p, fleet.at), version: p.version };
  }
  const b = await energyBreakdown(ctx.server.kv, zone, "fleet", "all", period, now);
  const siteKeys = fleet.sites.map((s) => periodKeys("site", s.site, period, zone));
  const flat = await energyAt(ctx.server.kv, siteKeys.flat());
  const siteKwh: Record<string, number> = {};
  let at = 0;
  fleet.sites.forEach((s, i) => {
    let wh = 0;
    for (let j = 0; j < siteKeys[i].length; j++) wh += flat[at++];
    siteKwh[s.site] = wh / 1000;
  });
  return ctx.render({
    fleet,
    units,
    offset,
    b,
    siteKwh,
    presence,
    zone: await getEnergyZone(ctx.server.kv),
    fixedOffsetMin: zone.fixedOffsetMin,
    tz: zone,
  });
};

export default function EnergyPage({ data, url }: PageProps<Data>) {
  const f = data.fleet;
  const p = data.b.period;
  const zone = data.tz;
  const pageQ = `/energy?period=${p.kind}&date=${p.date}`;
  return (
    <>
      <div class="page-head">
        <h1>Energy</h1>
      </div>
      <div class="cards">
        <Stat label="Fleet today" value={kwh(f.fleet.todayWh)} unit="kWh" testid="fleet-today" />
        <Stat label="Fleet this month" value={kwh(f.fleet.monthWh)} unit="kWh" testid="fleet-month" />
        <Stat label={p.label} value={data.b.sumKwh.toFixed(3)} unit="kWh" testid="fleet-period" />
        <Stat label="Meters" value={f.units.length} />
      </div>
      {data.zone?.earlier.length
        ? (
          <p class="notice warn" data-testid="zone-changed">
            Days and months are in {data.zone.name} since{" "}
            {localIso(zoneByName(data.zone.name), data.zone.since).slice(0, 16).replace("T", " ")}; totals stored before
            that keep the boundaries of {data.zone.earlier.map((e) => e.name).join(", then ")} (FLEET_TZ changed).
          </p>
        )
        : null}
      <EnergyPeriodView path={url.pathname} b={data.b} fixedOffsetMin={data.fixedOffsetMin} now={f.at} linkMembers />
      <Card title={`Meters · ${p.label}`}>
        {f.units.length
          ? (
            <TableWrap label="Energy per meter" testid="energy-units-wrap">
              <table data-testid="energy-units">
                <thead>
                  <tr>
                    <th scope="col">Meter</th>
                    <th scope="col">Site</th>
                    <th scope="col">Source</th>
                    <th scope="col" class="num">{p.label} (kWh)</th>
                    <th scope="col" class="num">Today (kWh)</th>
                    <th scope="col" class="num">This month (kWh)</th>
                    <th scope="col" class="num">Counted (kWh)</th>
                    <th scope="col">Last sample</th>
                  </tr>
                </thead>
                <tbody>
                  {data.units.map((u) => {
                    const pr = data.presence[u.deviceId];
                    const q = `?period=${p.kind}&date=${p.date}`;
                    return (
                      <tr key={u.deviceId} data-meter={u.deviceId}>
                        <td>
                          <a href={`/energy/unit/${encodeURIComponent(u.deviceId)}${q}`}>{u.deviceId}</a>{" "}
                          <a class="small" href={`/meters/${encodeURIComponent(u.deviceId)}`}>live</a>
                        </td>
                        <td>
                          {u.site
                            ? <a href={`/energy/site/${encodeURIComponent(u.site)}${q}`}>{u.site}</a>
                            : <span class="muted">–</span>}
                        </td>
                        <td>
                          {pr
                            ? (
                              <>
                                OpenBeken {pr.version ?? ""}{" "}
                                {pr.online ? <Badge status="online" /> : <Badge status="offline" />}
                              </>
                            )
                            : <span class="muted">bench agent</span>}
                        </td>
                        <td class="num" data-field="period">{(data.b.memberKwh[u.deviceId] ?? 0).toFixed(3)}</td>
                        <td class="num" data-field="today">{kwh(u.todayWh)}</td>
                        <td class="num" data-field="month">{kwh(u.monthWh)}</td>
                        <td class="num">{kwh(u.totalWh)}</td>
                        <td>
                          <RelativeTime ts={u.lastTs || null} now={f.at} zone={zone} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </TableWrap>
          )
          : (
            <EmptyState title="No meter has reported energy yet">
              <p>
                Start a bench agent or point an OpenBeken unit at the broker; its meters appear here with their first
                reading. The <a href="/">live fleet</a> shows what is connected.
              </p>
            </EmptyState>
          )}
      </Card>
      {f.units.length > PAGE
        ? (
          <nav class="pager row" aria-label="Meter pages" data-testid="energy-pager">
            {data.offset > 0
              ? <a class="btn" href={`${pageQ}&offset=${Math.max(0, data.offset - PAGE)}`}>← Previous meters</a>
              : null}
            <span class="muted">
              {`${data.offset + 1}–${
                data.offset + data.units.length
              } of ${f.units.length} meters, biggest this month first`}
            </span>
            {data.offset + PAGE < f.units.length
              ? <a class="btn" href={`${pageQ}&offset=${data.offset + PAGE}`}>Next meters →</a>
              : null}
          </nav>
        )
        : null}
      {f.sites.length
        ? (
          <Card title={`Sites · ${p.label}`}>
            <TableWrap label="Energy per site" testid="energy-sites-wrap">
              <table data-testid="energy-sites">
                <thead>
                  <tr>
                    <th scope="col">Site</th>
                    <th scope="col" class="num">{p.label} (kWh)</th>
                    <th scope="col" class="num">Today (kWh)</th>
                    <th scope="col" class="num">This month (kWh)</th>
                  </tr>
                </thead>
                <tbody>
                  {f.sites.map((s) => (
                    <tr key={s.site}>
                      <td>
                        <a href={`/energy/site/${encodeURIComponent(s.site)}?period=${p.kind}&date=${p.date}`}>
                          {s.site}
                        </a>
                      </td>
                      <td class="num">
                        <Num value={data.siteKwh[s.site] ?? 0} digits={3} />
                      </td>
                      <td class="num">{kwh(s.todayWh)}</td>
                      <td class="num">{kwh(s.monthWh)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          </Card>
        )
        : null}
    </>
  );
}
