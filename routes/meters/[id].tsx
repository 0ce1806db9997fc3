/** One meter, live: its values and a chart of the last minutes, updated as readings arrive; links to its unit and energy. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { getLatest } from "../../server/meters/store.ts";
import type { MeterLatest } from "../../shared/fleet.ts";
import { DEVICE_ID } from "../../shared/telemetry.ts";
import { stateKey, type StoredEnergyState } from "../../server/energy/store.ts";
import { identityOfMeter } from "../../server/inventory/identity.ts";
import { type PresenceView, presenceView } from "../../server/openbeken/presence.ts";
import { DeviceLinks, PresenceLine } from "../../components/UnitPresence.tsx";
import MeterLive from "../../islands/MeterLive.tsx";
import { EmptyState } from "../../components/ui.tsx";

interface Data {
  deviceId: string;
  latest: MeterLatest | null;
  site: string | null;
  zoneName: string;
  fixedOffsetMin: number | null;
  /** the inventory unit this meter is (by topic or MAC), and its live presence */
  unitId: string | null;
  presence: PresenceView | null;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const id = ctx.params.id;
  if (!DEVICE_ID.test(id)) return new Response("invalid meter id", { status: 400 });
  const latest = await getLatest(ctx.server.kv, id);
  const energy = (await ctx.server.kv.get<StoredEnergyState>(stateKey(id))).value;
  const ident = await identityOfMeter(ctx.server.kv, id);
  const zone = ctx.server.config.zone;
  return ctx.render({
    deviceId: id,
    latest,
    site: energy?.site ?? null,
    zoneName: zone.name,
    fixedOffsetMin: zone.fixedOffsetMin,
    unitId: ident.unit?.id ?? null,
    presence: ident.presence || ident.unit ? presenceView(ident.presence, ident.unit, ctx.server.clock.now()) : null,
  }, { status: latest || ident.presence ? 200 : 404 });
};

export default function MeterPage({ data }: PageProps<Data>) {
  return (
    <>
      <nav class="small" aria-label="Breadcrumb">
        <a href="/">Live fleet</a> › {data.deviceId}
      </nav>
      <div class="page-head">
        <h1>
          Meter <code>{data.deviceId}</code>
        </h1>
        {data.site ? <a href={`/energy/site/${encodeURIComponent(data.site)}`}>Site {data.site}</a> : null}
      </div>
      <DeviceLinks unitId={data.unitId} meterId={data.deviceId} here="meter" />
      {data.presence && <PresenceLine v={data.presence} />}
      {data.latest
        ? (
          <MeterLive
            deviceId={data.deviceId}
            initial={data.latest}
            minutes={30}
            zoneName={data.zoneName}
            fixedOffsetMin={data.fixedOffsetMin}
          />
        )
        : (
          <EmptyState title="No readings from this meter yet">
            <p>
              A meter appears once its bench agent or OpenBeken unit publishes. Check the <a href="/">live fleet</a>
              {" "}
              for what is connected, or the <a href="/units">inventory</a> for the unit's topic.
            </p>
          </EmptyState>
        )}
    </>
  );
}
