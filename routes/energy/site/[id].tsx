/** One site's energy: power over today, kWh per day and month of all its meters, CSV export. */
import type { PageProps, RouteHandler } from "../../../server/web/pages.ts";
import { energyAt, isSiteName, listEnergyStates, rollupKey } from "../../../server/db/energy.ts";
import { bucketStart } from "../../../server/energy/buckets.ts";
import { energySettingsFromEnv } from "../../../server/energy/extension.ts";
import { EnergyPanels, kwh } from "../../../components/EnergyPanels.tsx";

interface Data {
  site: string;
  now: number;
  dayStart: number;
  monthStart: number;
  todayWh: number;
  monthWh: number;
  members: string[];
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const site = ctx.params.id;
  if (!isSiteName(site)) return new Response("invalid site", { status: 400 });
  const now = ctx.app.clock.now();
  const tz = energySettingsFromEnv().tzOffsetMin;
  const dayStart = bucketStart("day", now, tz), monthStart = bucketStart("month", now, tz);
  const [todayWh, monthWh] = await energyAt(ctx.app.kv, [rollupKey("site", site, "day", dayStart), rollupKey("site", site, "month", monthStart)]);
  const members = (await listEnergyStates(ctx.app.kv)).filter((s) => s.site === site).map((s) => s.deviceId);
  return ctx.render({ site, now, dayStart, monthStart, todayWh, monthWh, members });
};

export default function SiteEnergyPage({ data }: PageProps<Data>) {
  return (
    <>
      <h1>Energy of site <code>{data.site}</code></h1>
      <div class="cards">
        <div class="card"><div class="label">Today</div><div class="value" data-testid="site-today">{kwh(data.todayWh)} kWh</div></div>
        <div class="card"><div class="label">This month</div><div class="value">{kwh(data.monthWh)} kWh</div></div>
        <div class="card"><div class="label">Meters</div><div class="value">{data.members.length}</div></div>
      </div>
      <p>
        {data.members.map((m, i) => (
          <span key={m}>
            {i ? ", " : ""}
            <a href={`/energy/unit/${encodeURIComponent(m)}`}>{m}</a>
          </span>
        ))}
      </p>
      <EnergyPanels scope="site" id={data.site} now={data.now} dayStart={data.dayStart} monthStart={data.monthStart} />
    </>
  );
}
