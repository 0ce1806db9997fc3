import type { PageProps } from "../server/web/pages.ts";

/** Shown for any path no route serves (Fresh's `_404` convention), inside the usual layout. */
export default function NotFound({ url }: PageProps) {
  return (
    <section class="empty" data-testid="not-found">
      <h1>Page not found</h1>
      <p>
        Nothing lives at{" "}
        <code>{url.pathname}</code>. It may have been mistyped, or the unit, meter or rollout it named is gone.
      </p>
      <p>
        <a class="btn primary" href="/">Back to the live fleet</a> <a class="btn" href="/units">Inventory</a>
      </p>
    </section>
  );
}
