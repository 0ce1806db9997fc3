/** One meter's energy: power over today, kWh per day and month, its OpenBeken presence, CSV export. */
import type { PageProps, RouteHandler } from "../../../server/web/pages.ts";
import { energyAt, rollupKey, stateKey, type StoredEnergyState } from "../../../server/energy/store.ts";
import { type PresenceView, presenceView, type UnitPresence } from "../../../server/openbeken/presence.ts";
import { identityOfMeter } from "../../../server/inventory/identity.ts";
import { DeviceLinks, PresenceLine } from "../../../components/UnitPresence.tsx";
import { DEVICE_ID } from "../../../shared/telemetry.ts";
import { EnergyPanels, type EnergyRanges, energyRanges, kwh } from "../../../components/EnergyPanels.tsx";

interface Data {
  id: string;
  ranges: EnergyRanges;
  state: StoredEnergyState | null;
  todayWh: number;
  monthWh: number;
  presence: UnitPresence | null;
  view: PresenceView | null;
  unitId: string | null;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const id = ctx.params.id;
  if (!DEVICE_ID.test(id)) return new Response("invalid meter id", { status: 400 });
  const now = ctx.app.clock.now();
  const ranges = energyRanges(ctx.app.config.zone, now);
  const [todayWh, monthWh] = await energyAt(ctx.app.kv, [
    rollupKey("unit", id, "day", ranges.dayStart),
    rollupKey("unit", id, "month", ranges.monthStart),
  ]);
  const state = (await ctx.app.kv.get<StoredEnergyState>(stateKey(id))).value;
  const ident = await identityOfMeter(ctx.app.kv, id);
  const presence = ident.presence;
  const view = presence || ident.unit ? presenceView(presence, ident.unit, now) : null;
  return ctx.render({ id, ranges, state, todayWh, monthWh, presence, view, unitId: ident.unit?.id ?? null }, {
    status: state || presence ? 200 : 404,
  });
};

export default function UnitEnergyPage({ data }: PageProps<Data>) {
  const p = data.presence;
  return (
    <>
      <h1>
        Energy of <code>{data.id}</code>
      </h1>
      <div class="cards">
        <div class="card">
          <div class="label">Today</div>
          <div class="value" data-testid="unit-today">{kwh(data.todayWh)} kWh</div>
        </div>
        <div class="card">
          <div class="label">This month</div>
          <div class="value">{kwh(data.monthWh)} kWh</div>
        </div>
        <div class="card">
          <div class="label">Site</div>
          <div class="value" style="font-size:1.1rem">{data.state?.site ?? "–"}</div>
        </div>
      </div>
      <DeviceLinks unitId={data.unitId} meterId={data.id} here="energy" />
      {data.view && <PresenceLine v={data.view} />}
      {p && (
        <p class="muted" data-testid="presence">
          {`OpenBeken ${p.chip ?? ""} · MAC ${p.mac ?? "?"} · reboots seen ${p.reboots} · energy unit ${p.energyUnit}`}
        </p>
      )}
      {Object.entries(p?.warnings ?? {}).map(([code, w]) => (
        <p class="badge warn" key={code} data-testid={`warning-${code}`}>
          {w.message} (since {new Date(w.since).toISOString().replace("T", " ").slice(0, 16)})
        </p>
      ))}
      {!data.state ? <p class="muted">No energy accounted for this meter yet.</p> : null}
      <EnergyPanels scope="unit" id={data.id} ranges={data.ranges} />
    </>
  );
}
