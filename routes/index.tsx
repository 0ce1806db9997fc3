/** The live fleet dashboard: every meter's power, voltage, current and energy, and the fleet total. */
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { listLatest } from "../server/db/meters.ts";
import { toSnapshot } from "../server/live.ts";
import type { FleetSnapshot } from "../shared/fleet.ts";
import LiveFleet from "../islands/LiveFleet.tsx";

export const handler: RouteHandler<FleetSnapshot> = async (ctx) =>
  ctx.render(toSnapshot(await listLatest(ctx.app.kv), Date.now()));

export default function Dashboard({ data }: PageProps<FleetSnapshot>) {
  return (
    <>
      <h1>Live fleet</h1>
      <LiveFleet initial={data} />
    </>
  );
}
