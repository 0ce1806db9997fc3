/**
 * Your account: change your own password. The current password is asked
 * again (a session left open on a bench PC must not be enough), failures
 * count toward the sign-in lock, and every other session of the account is
 * ended; this one continues on a fresh session.
 */
import { z } from "zod";
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { authOf, csrfTokenOf } from "../server/auth/middleware.ts";
import { checkLogin, createSession, newUserSchema, setPassword } from "../server/auth/users.ts";
import { sessionCookie } from "../server/auth/web.ts";
import { clientAddress } from "../server/auth/proxy.ts";
import { loginGateOf, loginKeys } from "../server/auth/login_gate.ts";
import { fieldAria, FormRow, Toast } from "../components/ui.tsx";

interface AccountData {
  username: string;
  role: string;
  csrf: string;
  error?: string;
  /** the field the error is about, shown beside it */
  field?: "current" | "password" | "again";
  changed?: boolean;
  /** signed in with the one-time password: no current password to ask, and nothing else until this is done */
  mustChange?: boolean;
}

const form = z.object({
  current: z.string().max(256).default(""),
  password: z.string().max(256),
  again: z.string().max(256),
  _csrf: z.string().max(64),
});

export const handler: RouteHandler<AccountData> = {
  GET(ctx) {
    const p = authOf(ctx.req).principal;
    if (p?.kind !== "user") return new Response(null, { status: 303, headers: { location: "/login?next=/account" } });
    return ctx.render({
      username: p.username,
      role: p.role,
      csrf: csrfTokenOf(ctx.req),
      changed: ctx.url.searchParams.has("changed"),
      mustChange: p.mustChangePassword,
    });
  },
  async POST(ctx) {
    const p = authOf(ctx.req).principal;
    if (p?.kind !== "user") return new Response(null, { status: 303, headers: { location: "/login?next=/account" } });
    const again = (error: string, status: number, field?: AccountData["field"]) =>
      ctx.render({
        username: p.username,
        role: p.role,
        csrf: csrfTokenOf(ctx.req),
        error,
        field,
        mustChange: p.mustChangePassword,
      }, { status });
    const raw = await ctx.req.formData().catch(() => null);
    const f = form.safeParse(raw ? Object.fromEntries(raw) : {});
    if (!f.success) return again("Fill in every field.", 400);
    const strong = newUserSchema.shape.password.safeParse(f.data.password);
    if (!strong.success) return again("The new password needs at least 12 characters.", 400, "password");
    if (f.data.password !== f.data.again) return again("The two new passwords differ.", 400, "again");
    if (!p.mustChangePassword) {
      const address = clientAddress(ctx.hono);
      const check = await loginGateOf(ctx.server).run(
        loginKeys(p.username, address),
        () => checkLogin(ctx.server.kv, p.username, f.data.current, address),
      );
      if (check === "busy") return again("Too many attempts right now; try again in a minute.", 429);
      if (!check.ok) {
        ctx.server.log.warn("password change refused", { user: p.username, reason: check.reason });
        return check.reason === "locked"
          ? again("Too many failed attempts; try again in 15 minutes.", 429)
          : again("The current password is wrong.", 401, "current");
      }
    }
    await setPassword(ctx.server.kv, p.username, f.data.password); // ends every session of this account
    const { token } = await createSession(ctx.server.kv, p.username);
    ctx.server.log.info("password changed", { user: p.username });
    return new Response(null, {
      status: 303,
      headers: {
        location: "/account?changed",
        "set-cookie": sessionCookie(ctx.req, token, ctx.server.config.trustProxy),
      },
    });
  },
};

export default function Account({ data }: PageProps<AccountData>) {
  const err = (f: AccountData["field"]) => (data.field === f ? data.error : null);
  return (
    <section class="auth">
      <h1>Your account</h1>
      <p>
        Signed in as <b>{data.username}</b> ({data.role}).
      </p>
      {data.changed ? <Toast kind="ok">Password changed. Your other sessions were signed out.</Toast> : null}
      {data.mustChange
        ? (
          <p class="notice warn" role="alert" data-testid="must-change">
            You signed in with the one-time password, which no longer works. Choose your own password to continue.
          </p>
        )
        : null}
      {data.error && !data.field ? <p class="error" role="alert">{data.error}</p> : null}
      <form method="post" action="/account" class="stack">
        <input type="hidden" name="_csrf" value={data.csrf} />
        {data.mustChange ? null : (
          <FormRow id="current" label="Current password" error={err("current")}>
            <input
              type="password"
              id="current"
              name="current"
              autocomplete="current-password"
              required
              {...fieldAria("current", null, err("current"))}
            />
          </FormRow>
        )}
        <FormRow
          id="password"
          label="New password"
          help="At least 12 characters. Your other sessions are signed out."
          error={err("password")}
        >
          <input
            type="password"
            id="password"
            name="password"
            autocomplete="new-password"
            minLength={12}
            required
            {...fieldAria("password", true, err("password"))}
          />
        </FormRow>
        <FormRow id="again" label="New password again" error={err("again")}>
          <input
            type="password"
            id="again"
            name="again"
            autocomplete="new-password"
            minLength={12}
            required
            {...fieldAria("again", null, err("again"))}
          />
        </FormRow>
        <button type="submit">Change password</button>
      </form>
    </section>
  );
}
