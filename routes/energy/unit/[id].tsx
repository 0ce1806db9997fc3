/** One meter's energy: a day / week / month / year, its OpenBeken presence, links to its live page, CSV export. */
import type { PageProps, RouteHandler } from "../../../server/web/pages.ts";
import { energyAt, rollupKey, stateKey, type StoredEnergyState } from "../../../server/energy/store.ts";
import { type PresenceView, presenceView, type UnitPresence } from "../../../server/openbeken/presence.ts";
import { identityOfMeter } from "../../../server/inventory/identity.ts";
import { DeviceLinks, PresenceLine } from "../../../components/UnitPresence.tsx";
import { DEVICE_ID } from "../../../shared/telemetry.ts";
import { energyRanges, kwh } from "../../../components/EnergyPanels.tsx";
import { type EnergyBreakdown, energyBreakdown, isPeriodKind, periodOf } from "../../../server/energy/period.ts";
import { EnergyPeriodView } from "../../../components/EnergyPeriod.tsx";
import { RelativeTime, Stat } from "../../../components/ui.tsx";
import type { Zone } from "../../../shared/zone.ts";

interface Data {
  id: string;
  state: StoredEnergyState | null;
  todayWh: number;
  monthWh: number;
  presence: UnitPresence | null;
  view: PresenceView | null;
  unitId: string | null;
  b: EnergyBreakdown;
  tz: Zone;
  now: number;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const id = ctx.params.id;
  if (!DEVICE_ID.test(id)) return new Response("invalid meter id", { status: 400 });
  const zone = ctx.server.config.zone;
  const now = ctx.server.clock.now();
  const ranges = energyRanges(zone, now);
  const [todayWh, monthWh] = await energyAt(ctx.server.kv, [
    rollupKey("unit", id, "day", ranges.dayStart),
    rollupKey("unit", id, "month", ranges.monthStart),
  ]);
  const state = (await ctx.server.kv.get<StoredEnergyState>(stateKey(id))).value;
  const ident = await identityOfMeter(ctx.server.kv, id);
  const presence = ident.presence;
  const view = presence || ident.unit ? presenceView(presence, ident.unit, now) : null;
  const kind = ctx.url.searchParams.get("period");
  const period = periodOf(zone, isPeriodKind(kind) ? kind : "day", ctx.url.searchParams.get("date"), now);
  const b = await energyBreakdown(ctx.server.kv, zone, "unit", id, period, now);
  return ctx.render({ id, state, todayWh, monthWh, presence, view, unitId: ident.unit?.id ?? null, b, tz: zone, now }, {
    status: state || presence ? 200 : 404,
  });
};

export default function UnitEnergyPage({ data, url }: PageProps<Data>) {
  const p = data.presence;
  const per = data.b.period;
  const site = data.state?.site;
  return (
    <>
      <div class="page-head">
        <h1>
          Energy of <code>{data.id}</code>
        </h1>
        <span class="row">
          <a class="btn" href={`/meters/${encodeURIComponent(data.id)}`} data-testid="live-link">Live readings</a>
          {site
            ? <a href={`/energy/site/${encodeURIComponent(site)}?period=${per.kind}&date=${per.date}`}>Site {site}</a>
            : null}
        </span>
      </div>
      <div class="cards">
        <Stat label="Today" value={kwh(data.todayWh)} unit="kWh" testid="unit-today" />
        <Stat label="This month" value={kwh(data.monthWh)} unit="kWh" />
        <Stat label={per.label} value={data.b.sumKwh.toFixed(3)} unit="kWh" testid="unit-period" />
        <Stat label="Counted" value={data.state ? kwh(data.state.totalMwh / 1000) : "–"} unit="kWh" />
      </div>
      <DeviceLinks unitId={data.unitId} meterId={data.id} here="energy" />
      {data.view && <PresenceLine v={data.view} />}
      {p && (
        <p class="muted small" data-testid="presence">
          OpenBeken {p.chip ?? ""} · MAC <code>{p.mac ?? "?"}</code> · reboots seen {p.reboots} · energy unit{" "}
          {p.energyUnit}
        </p>
      )}
      {Object.entries(p?.warnings ?? {}).map(([code, w]) => (
        <p class="notice warn" key={code} data-testid={`warning-${code}`}>
          {w.message} (since <RelativeTime ts={w.since} now={data.now} zone={data.tz} />)
        </p>
      ))}
      {!data.state ? <p class="notice">No energy accounted for this meter yet.</p> : null}
      <EnergyPeriodView path={url.pathname} b={data.b} fixedOffsetMin={data.tz.fixedOffsetMin} now={data.now} />
      <p class="small muted">
        Raw readings of the last 24 h:{" "}
        <a
          href={`/api/energy/export.csv?scope=unit&id=${encodeURIComponent(data.id)}&level=raw&from=${
            data.now - 86_400_000
          }&to=${data.now}`}
        >
          CSV
        </a>
      </p>
    </>
  );
}
