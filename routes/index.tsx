/**
 * The live fleet dashboard: one page of meters (filtered, sorted and paged on
 * the server), grouped by site, with fleet and site totals. The page carries
 * only that page; the island then streams its deltas.
 */
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { liveOf } from "../server/meters/live.ts";
import { type LivePage, parseLiveQuery } from "../shared/fleet.ts";
import LiveFleet from "../islands/LiveFleet.tsx";

export const handler: RouteHandler<LivePage | { error: string }> = async (ctx) => {
  const q = parseLiveQuery(ctx.url.searchParams);
  if ("error" in q) return ctx.render({ error: q.error }, { status: 400 });
  const { feed } = liveOf(ctx.server.kv);
  return ctx.render(feed.page(await feed.fleet(), q));
};

export default function Dashboard({ data }: PageProps<LivePage | { error: string }>) {
  return (
    <>
      <h1>Live fleet</h1>
      {"error" in data
        ? (
          <p class="error">
            {data.error}. <a href="/">Show the whole fleet</a>
          </p>
        )
        : <LiveFleet initial={data} />}
    </>
  );
}
