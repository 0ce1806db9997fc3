/** One site's energy: power over today, kWh per day and month of all its meters, CSV export. */
import type { PageProps, RouteHandler } from "../../../server/web/pages.ts";
import { energyAt, isSiteName, listEnergyStates, rollupKey } from "../../../server/energy/store.ts";
import { EnergyPanels, type EnergyRanges, energyRanges, kwh } from "../../../components/EnergyPanels.tsx";

interface Data {
  site: string;
  ranges: EnergyRanges;
  todayWh: number;
  monthWh: number;
  members: string[];
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const site = ctx.params.id;
  if (!isSiteName(site)) return new Response("invalid site", { status: 400 });
  const now = ctx.app.clock.now();
  const ranges = energyRanges(ctx.app.config.zone, now);
  const [todayWh, monthWh] = await energyAt(ctx.app.kv, [
    rollupKey("site", site, "day", ranges.dayStart),
    rollupKey("site", site, "month", ranges.monthStart),
  ]);
  const members = (await listEnergyStates(ctx.app.kv)).filter((s) => s.site === site).map((s) => s.deviceId);
  return ctx.render({ site, ranges, todayWh, monthWh, members });
};

export default function SiteEnergyPage({ data }: PageProps<Data>) {
  return (
    <>
      <h1>
        Energy of site <code>{data.site}</code>
      </h1>
      <div class="cards">
        <div class="card">
          <div class="label">Today</div>
          <div class="value" data-testid="site-today">{kwh(data.todayWh)} kWh</div>
        </div>
        <div class="card">
          <div class="label">This month</div>
          <div class="value">{kwh(data.monthWh)} kWh</div>
        </div>
        <div class="card">
          <div class="label">Meters</div>
          <div class="value">{data.members.length}</div>
        </div>
      </div>
      <p>
        {data.members.map((m, i) => (
          <span key={m}>
            {i ? ", " : ""}
            <a href={`/energy/unit/${encodeURIComponent(m)}`}>{m}</a>
          </span>
        ))}
      </p>
      <EnergyPanels scope="site" id={data.site} ranges={data.ranges} />
    </>
  );
}
