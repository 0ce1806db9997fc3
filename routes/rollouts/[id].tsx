/** One rollout, live: groups, per-device states, and the operator's buttons. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { getRollout, listDevices } from "../../server/db/ota.ts";
import RolloutLive, { type RolloutView } from "../../islands/RolloutLive.tsx";
import { csrfTokenOf } from "../../server/auth/middleware.ts";

export const handler: RouteHandler<(RolloutView & { csrf: string }) | null> = async (ctx) => {
  const r = (await getRollout(ctx.app.kv, ctx.params.id)).value;
  if (!r) return ctx.render(null, { status: 404 });
  return ctx.render({
    rollout: r,
    devices: (await listDevices(ctx.app.kv, r.id)).map((e) => e.value),
    csrf: csrfTokenOf(ctx.req),
  });
};

export default function RolloutPage({ data }: PageProps<(RolloutView & { csrf: string }) | null>) {
  if (!data) {
    return (
      <>
        <h1>No such rollout</h1>
        <p>
          <a href="/rollouts">Rollouts</a>
        </p>
      </>
    );
  }
  return (
    <>
      <h1>Rollout {data.rollout.name}</h1>
      <RolloutLive initial={{ rollout: data.rollout, devices: data.devices }} csrf={data.csrf} />
    </>
  );
}
