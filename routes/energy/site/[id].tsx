/** One site's energy: a day / week / month / year stacked per meter, its meters in that period, CSV export. */
import type { PageProps, RouteHandler } from "../../../server/web/pages.ts";
import { energyAt, isSiteName, listEnergyStates, rollupKey } from "../../../server/energy/store.ts";
import { energyRanges, kwh } from "../../../components/EnergyPanels.tsx";
import { type EnergyBreakdown, energyBreakdown, isPeriodKind, periodOf } from "../../../server/energy/period.ts";
import { EnergyPeriodView } from "../../../components/EnergyPeriod.tsx";
import { Card, EmptyState, Num, Stat, TableWrap } from "../../../components/ui.tsx";

interface Data {
  site: string;
  todayWh: number;
  monthWh: number;
  members: string[];
  b: EnergyBreakdown;
  fixedOffsetMin: number | null;
  now: number;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const site = ctx.params.id;
  if (!isSiteName(site)) return new Response("invalid site", { status: 400 });
  const zone = ctx.server.config.zone;
  const now = ctx.server.clock.now();
  const ranges = energyRanges(zone, now);
  const [todayWh, monthWh] = await energyAt(ctx.server.kv, [
    rollupKey("site", site, "day", ranges.dayStart),
    rollupKey("site", site, "month", ranges.monthStart),
  ]);
  const members = (await listEnergyStates(ctx.server.kv)).filter((s) => s.site === site).map((s) => s.deviceId).sort();
  const kind = ctx.url.searchParams.get("period");
  const period = periodOf(zone, isPeriodKind(kind) ? kind : "day", ctx.url.searchParams.get("date"), now);
  const b = await energyBreakdown(ctx.server.kv, zone, "site", site, period, now);
  return ctx.render({ site, todayWh, monthWh, members, b, fixedOffsetMin: zone.fixedOffsetMin, now });
};

export default function SiteEnergyPage({ data, url }: PageProps<Data>) {
  const p = data.b.period;
  return (
    <>
      <div class="page-head">
        <h1>
          Energy of site <code>{data.site}</code>
        </h1>
        <a href={`/energy?period=${p.kind}&date=${p.date}`}>Whole fleet</a>
      </div>
      <div class="cards">
        <Stat label="Today" value={kwh(data.todayWh)} unit="kWh" testid="site-today" />
        <Stat label="This month" value={kwh(data.monthWh)} unit="kWh" />
        <Stat label={p.label} value={data.b.sumKwh.toFixed(3)} unit="kWh" testid="site-period" />
        <Stat label="Meters" value={data.members.length} />
      </div>
      <EnergyPeriodView
        path={url.pathname}
        b={data.b}
        fixedOffsetMin={data.fixedOffsetMin}
        now={data.now}
        linkMembers
      />
      <Card title={`Meters of ${data.site} · ${p.label}`}>
        {data.members.length
          ? (
            <TableWrap label="Meters of this site">
              <table data-testid="site-members">
                <thead>
                  <tr>
                    <th scope="col">Meter</th>
                    <th scope="col" class="num">{p.label} (kWh)</th>
                    <th scope="col" class="num">Share</th>
                    <th scope="col">Live</th>
                  </tr>
                </thead>
                <tbody>
                  {data.members.map((m) => {
                    const v = data.b.memberKwh[m] ?? 0;
                    return (
                      <tr key={m} data-meter={m}>
                        <td>
                          <a href={`/energy/unit/${encodeURIComponent(m)}?period=${p.kind}&date=${p.date}`}>{m}</a>
                        </td>
                        <td class="num">
                          <Num value={v} digits={3} />
                        </td>
                        <td class="num">
                          {data.b.sumKwh > 0 ? <Num value={(100 * v) / data.b.sumKwh} digits={0} unit="%" /> : "–"}
                        </td>
                        <td>
                          <a href={`/meters/${encodeURIComponent(m)}`}>live readings</a>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </TableWrap>
          )
          : (
            <EmptyState title="No meter is attributed to this site now">
              <p>
                Set a unit's site in the <a href="/units">inventory</a>; its energy counts here from then on.
              </p>
            </EmptyState>
          )}
      </Card>
    </>
  );
}
