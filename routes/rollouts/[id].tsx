/** One rollout, live: why it is waiting, group progress bars, per-device states, and the operator's buttons. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import RolloutLive from "../../islands/RolloutLive.tsx";
import type { RolloutView } from "../../shared/ota.ts";
import { csrfTokenOf } from "../../server/auth/middleware.ts";
import { rolloutView } from "../../server/ota/api.ts";
import { EmptyState } from "../../components/ui.tsx";

type Data = (RolloutView & { csrf: string; now: number; zoneName: string }) | null;

export const handler: RouteHandler<Data> = async (ctx) => {
  const now = ctx.server.clock.now();
  const v = await rolloutView(ctx.server.kv, ctx.params.id, now);
  if (!v) return ctx.render(null, { status: 404 });
  return ctx.render({ ...v, csrf: csrfTokenOf(ctx.req), now, zoneName: ctx.server.config.zone.name });
};

export default function RolloutPage({ data }: PageProps<Data>) {
  if (!data) {
    return (
      <>
        <div class="page-head">
          <h1>No such rollout</h1>
        </div>
        <EmptyState title="This rollout does not exist (any more).">
          <p>
            See <a href="/rollouts">all rollouts</a>, or start a new one there.
          </p>
        </EmptyState>
      </>
    );
  }
  const r = data.rollout;
  return (
    <>
      <p class="small">
        <a href="/rollouts">← Rollouts</a>
      </p>
      <div class="page-head">
        <h1>Rollout {r.name}</h1>
        <span class="muted small">
          <a href={`/firmware#fw-${r.firmwareId}`}>{r.filename}</a> · created by {r.createdBy}
        </span>
      </div>
      <RolloutLive
        initial={{ rollout: r, devices: data.devices, blockers: data.blockers }}
        csrf={data.csrf}
        now={data.now}
        zoneName={data.zoneName}
      />
    </>
  );
}
