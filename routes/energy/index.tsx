/** Fleet energy: kWh today and this month per meter and per site, the fleet's daily energy, CSV export. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { type FleetEnergy, fleetEnergy } from "../../server/energy/api.ts";
import { isUnitOnline, listUnitPresence, type UnitPresence } from "../../server/openbeken/presence.ts";
import { EnergyPanels, type EnergyRanges, energyRanges, kwh } from "../../components/EnergyPanels.tsx";
import { type EnergyZoneRecord, getEnergyZone } from "../../server/energy/store.ts";
import { localIso, zoneByName } from "../../shared/zone.ts";

/** Meters per page: the page stays the same size whatever the fleet's. */
const PAGE = 100;

interface Data {
  fleet: FleetEnergy;
  /** this page's meters, biggest consumers this month first, and where the page starts */
  units: FleetEnergy["units"];
  offset: number;
  ranges: EnergyRanges;
  zone: EnergyZoneRecord | null;
  presence: Record<string, Pick<UnitPresence, "online" | "version">>;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const fleet = await fleetEnergy(ctx.app.kv, ctx.app.clock.now(), ctx.app.config.zone);
  const rawOffset = ctx.url.searchParams.get("offset") ?? "0";
  const offset = /^\d{1,9}$/.test(rawOffset) ? Number(rawOffset) : 0;
  const units = [...fleet.units]
    .sort((a, b) => b.monthWh - a.monthWh || a.deviceId.localeCompare(b.deviceId))
    .slice(offset, offset + PAGE);
  const shown = new Set(units.map((u) => u.deviceId));
  const presence: Data["presence"] = {};
  for (const p of await listUnitPresence(ctx.app.kv)) {
    if (shown.has(p.deviceId)) presence[p.deviceId] = { online: isUnitOnline(p, fleet.at), version: p.version };
  }
  return ctx.render({
    fleet,
    units,
    offset,
    presence,
    ranges: energyRanges(ctx.app.config.zone, fleet.at),
    zone: await getEnergyZone(ctx.app.kv),
  });
};

export default function EnergyPage({ data }: PageProps<Data>) {
  const f = data.fleet;
  return (
    <>
      <h1>Energy</h1>
      <div class="cards">
        <div class="card">
          <div class="label">Fleet today</div>
          <div class="value" data-testid="fleet-today">{kwh(f.fleet.todayWh)} kWh</div>
        </div>
        <div class="card">
          <div class="label">Fleet this month</div>
          <div class="value" data-testid="fleet-month">{kwh(f.fleet.monthWh)} kWh</div>
        </div>
        <div class="card">
          <div class="label">Meters</div>
          <div class="value">{f.units.length}</div>
        </div>
      </div>
      {data.zone?.earlier.length
        ? (
          <p class="badge warn" data-testid="zone-changed">
            Days and months are in {data.zone.name} since{" "}
            {localIso(zoneByName(data.zone.name), data.zone.since).slice(0, 16).replace("T", " ")}; totals stored before
            that keep the boundaries of {data.zone.earlier.map((e) => e.name).join(", then ")} (FLEET_TZ changed).
          </p>
        )
        : null}
      <table data-testid="energy-units">
        <thead>
          <tr>
            <th>Meter</th>
            <th>Site</th>
            <th>Source</th>
            <th class="num">Today (kWh)</th>
            <th class="num">This month (kWh)</th>
            <th class="num">Counted (kWh)</th>
            <th>Last sample</th>
          </tr>
        </thead>
        <tbody>
          {data.units.map((u) => {
            const p = data.presence[u.deviceId];
            return (
              <tr key={u.deviceId} data-meter={u.deviceId}>
                <td>
                  <a href={`/energy/unit/${encodeURIComponent(u.deviceId)}`}>{u.deviceId}</a>
                </td>
                <td>
                  {u.site
                    ? <a href={`/energy/site/${encodeURIComponent(u.site)}`}>{u.site}</a>
                    : <span class="muted">–</span>}
                </td>
                <td class="muted">{p ? `OpenBeken ${p.version ?? ""}${p.online ? "" : " (offline)"}` : "agent"}</td>
                <td class="num" data-field="today">{kwh(u.todayWh)}</td>
                <td class="num" data-field="month">{kwh(u.monthWh)}</td>
                <td class="num">{kwh(u.totalWh)}</td>
                <td class="muted">
                  {u.lastTs ? new Date(u.lastTs).toISOString().replace("T", " ").slice(0, 19) : "–"}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {f.units.length > PAGE
        ? (
          <nav class="pager" data-testid="energy-pager">
            {data.offset > 0 ? <a href={`/energy?offset=${Math.max(0, data.offset - PAGE)}`}>← previous</a> : null}
            <span>
              {` ${data.offset + 1}–${
                data.offset + data.units.length
              } of ${f.units.length} meters, biggest this month first `}
            </span>
            {data.offset + PAGE < f.units.length ? <a href={`/energy?offset=${data.offset + PAGE}`}>next →</a> : null}
          </nav>
        )
        : null}
      {f.sites.length
        ? (
          <>
            <h2>Sites</h2>
            <table data-testid="energy-sites">
              <thead>
                <tr>
                  <th>Site</th>
                  <th class="num">Today (kWh)</th>
                  <th class="num">This month (kWh)</th>
                </tr>
              </thead>
              <tbody>
                {f.sites.map((s) => (
                  <tr key={s.site}>
                    <td>
                      <a href={`/energy/site/${encodeURIComponent(s.site)}`}>{s.site}</a>
                    </td>
                    <td class="num">{kwh(s.todayWh)}</td>
                    <td class="num">{kwh(s.monthWh)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )
        : null}
      <EnergyPanels scope="fleet" id="all" ranges={data.ranges} />
    </>
  );
}
