/** One meter: its latest reading and a power/voltage history chart. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { getLatest } from "../../server/db/meters.ts";
import type { MeterLatest } from "../../shared/fleet.ts";
import PowerChart from "../../islands/PowerChart.tsx";

interface Data {
  deviceId: string;
  latest: MeterLatest | null;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const latest = await getLatest(ctx.app.kv, ctx.params.id);
  return ctx.render({ deviceId: ctx.params.id, latest }, { status: latest ? 200 : 404 });
};

export default function MeterPage({ data }: PageProps<Data>) {
  const r = data.latest?.reading;
  return (
    <>
      <h1>
        Meter <code>{data.deviceId}</code>
      </h1>
      {!r ? <p class="muted">No readings from this meter yet.</p> : (
        <>
          <div class="cards">
            <div class="card">
              <div class="label">Power</div>
              <div class="value">{r.power.toFixed(1)} W</div>
            </div>
            <div class="card">
              <div class="label">Voltage</div>
              <div class="value">{r.voltage.toFixed(1)} V</div>
            </div>
            <div class="card">
              <div class="label">Current</div>
              <div class="value">{r.current.toFixed(3)} A</div>
            </div>
            <div class="card">
              <div class="label">Energy</div>
              <div class="value">{(r.energyWh / 1000).toFixed(3)} kWh</div>
            </div>
          </div>
          <p class="muted">
            Agent <code>{data.latest!.agentId}</code>, last reading {new Date(r.ts).toISOString()}
          </p>
          <PowerChart deviceId={data.deviceId} minutes={30} />
        </>
      )}
    </>
  );
}
