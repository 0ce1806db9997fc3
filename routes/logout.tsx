/** Sign-out: a CSRF-protected POST (a GET only shows the button, so a link cannot sign anyone out). */
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { authOf, csrfTokenOf } from "../server/auth/middleware.ts";
import { deleteSession } from "../server/auth/users.ts";
import { clearSessionCookie } from "../server/auth/web.ts";

export const handler: RouteHandler<{ csrf: string; username: string }> = {
  GET(ctx) {
    const p = authOf(ctx.req).principal;
    return ctx.render({ csrf: csrfTokenOf(ctx.req), username: p?.kind === "user" ? p.username : "" });
  },
  async POST(ctx) {
    const token = authOf(ctx.req).sessionToken;
    if (token) await deleteSession(ctx.server.kv, token);
    return new Response(null, {
      status: 303,
      headers: { location: "/login", "set-cookie": clearSessionCookie(ctx.req, ctx.server.config.trustProxy) },
    });
  },
};

export default function Logout({ data }: PageProps<{ csrf: string; username: string }>) {
  return (
    <section class="auth">
      <h1>Sign out</h1>
      <p>
        Signed in as <b>{data.username}</b>.
      </p>
      <form method="post" action="/logout">
        <input type="hidden" name="_csrf" value={data.csrf} />
        <button type="submit">Sign out</button>
      </form>
    </section>
  );
}
