/** One rollout, live: groups, per-device states, why it is not progressing, and the operator's buttons. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import RolloutLive, { type RolloutView } from "../../islands/RolloutLive.tsx";
import { csrfTokenOf } from "../../server/auth/middleware.ts";
import { rolloutView } from "../../server/api/rollouts.ts";

export const handler: RouteHandler<(RolloutView & { csrf: string }) | null> = async (ctx) => {
  const v = await rolloutView(ctx.app.kv, ctx.params.id, ctx.app.clock.now());
  if (!v) return ctx.render(null, { status: 404 });
  return ctx.render({ ...v, csrf: csrfTokenOf(ctx.req) });
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
      <RolloutLive
        initial={{ rollout: data.rollout, devices: data.devices, blockers: data.blockers }}
        csrf={data.csrf}
      />
    </>
  );
}
