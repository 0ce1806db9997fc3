/** One meter, live: its values and a chart of the last minutes, updated as readings arrive; links to its unit and energy. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { getLatest, listRefusedMeters } from "../../server/meters/store.ts";
import type { MeterLatest, RefusedMeter } from "../../shared/fleet.ts";
import { DEVICE_ID } from "../../shared/telemetry.ts";
import { stateKey, type StoredEnergyState } from "../../server/energy/store.ts";
import { identityOfMeter } from "../../server/inventory/identity.ts";
import { type PresenceView, presenceView } from "../../server/openbeken/presence.ts";
import { DeviceLinks, PresenceLine } from "../../components/UnitPresence.tsx";
import MeterLive from "../../islands/MeterLive.tsx";
import { Card, EmptyState, RelativeTime, TableWrap } from "../../components/ui.tsx";
import type { Zone } from "../../shared/zone.ts";

interface Data {
  deviceId: string;
  latest: MeterLatest | null;
  site: string | null;
  zoneName: string;
  fixedOffsetMin: number | null;
  /** the inventory unit this meter is (by topic or MAC), and its live presence */
  unitId: string | null;
  presence: PresenceView | null;
  /** readings other benches or units sent under this id (refused: the id is another's) */
  refused: RefusedMeter[];
  zone: Zone;
  now: number;
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const id = ctx.params.id;
  if (!DEVICE_ID.test(id)) return new Response("invalid meter id", { status: 400 });
  const latest = await getLatest(ctx.server.kv, id);
  const energy = (await ctx.server.kv.get<StoredEnergyState>(stateKey(id))).value;
  const ident = await identityOfMeter(ctx.server.kv, id);
  const zone = ctx.server.config.zone;
  const refused = (await listRefusedMeters(ctx.server.kv, { deviceId: id })).items;
  return ctx.render({
    deviceId: id,
    latest,
    site: energy?.site ?? null,
    zoneName: zone.name,
    fixedOffsetMin: zone.fixedOffsetMin,
    unitId: ident.unit?.id ?? null,
    presence: ident.presence || ident.unit ? presenceView(ident.presence, ident.unit, ctx.server.clock.now()) : null,
    refused,
    zone,
    now: ctx.server.clock.now(),
  }, { status: latest || ident.presence || refused.length ? 200 : 404 });
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
      {data.refused.length
        ? <RefusedSenders meterId={data.deviceId} refused={data.refused} zone={data.zone} now={data.now} />
        : null}
    </>
  );
}

/** Who else reports under this id: their readings are refused, since the first to report an id owns it. */
function RefusedSenders(
  { meterId, refused, zone, now }: { meterId: string; refused: RefusedMeter[]; zone: Zone; now: number },
) {
  return (
    <Card title="Readings refused for this id" testid="refused-senders">
      <p class="small">
        <code>{meterId}</code> belongs to{" "}
        <code>{refused[0].owner || "?"}</code>, the first to report it. Readings others sent under the same id are not
        stored. Give the other meter its own id (the bench's profile, or the unit's MQTT topic) to keep its readings.
      </p>
      <TableWrap label="Readings refused, by sender">
        <table>
          <thead>
            <tr>
              <th>Sent by</th>
              <th class="num">Readings refused</th>
              <th>Last</th>
            </tr>
          </thead>
          <tbody>
            {refused.map((r) => (
              <tr key={r.source} data-source={r.source}>
                <td>
                  <code>{r.source}</code>
                </td>
                <td class="num">{r.readings}</td>
                <td>
                  <RelativeTime ts={r.lastAt} now={now} zone={zone} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </Card>
  );
}
