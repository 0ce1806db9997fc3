/** One meter: its latest reading and a power/voltage history chart. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { getLatest } from "../../server/meters/store.ts";
import type { MeterLatest } from "../../shared/fleet.ts";
import PowerChart from "../../islands/PowerChart.tsx";
import { identityOfMeter } from "../../server/inventory/identity.ts";
import { type PresenceView, presenceView } from "../../server/openbeken/presence.ts";
import { DeviceLinks, PresenceLine } from "../../components/UnitPresence.tsx";

interface Data {
  deviceId: string;
  latest: MeterLatest | null;
  /** the inventory unit this meter is (by topic or MAC), and its live presence */
  unitId: string | null;
  presence: PresenceView | null;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const latest = await getLatest(ctx.app.kv, ctx.params.id);
  const id = await identityOfMeter(ctx.app.kv, ctx.params.id);
  return ctx.render({
    deviceId: ctx.params.id,
    latest,
    unitId: id.unit?.id ?? null,
    presence: id.presence || id.unit ? presenceView(id.presence, id.unit, ctx.app.clock.now()) : null,
  }, { status: latest || id.presence ? 200 : 404 });
};

export default function MeterPage({ data }: PageProps<Data>) {
  const r = data.latest?.reading;
  return (
    <>
      <h1>
        Meter <code>{data.deviceId}</code>
      </h1>
      <DeviceLinks unitId={data.unitId} meterId={data.deviceId} here="meter" />
      {data.presence && <PresenceLine v={data.presence} />}
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
