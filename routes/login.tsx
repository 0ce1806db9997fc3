/** Sign-in. Public (policy.ts). Login CSRF: a double-submit cookie scoped to /login. */
import { z } from "zod";
import type { PageProps, RouteHandler } from "../server/web/pages.ts";
import { randomSecret, timingSafeEqual } from "../server/auth/crypto.ts";
import { checkLogin, createSession, USERNAME } from "../server/auth/users.ts";
import {
  BOOTSTRAP_FILE,
  LOGIN_CSRF_COOKIE,
  loginCsrfCookie,
  readCookie,
  safeNext,
  sessionCookie,
} from "../server/auth/web.ts";
import { authOf } from "../server/auth/middleware.ts";
import { clientAddress } from "../server/auth/proxy.ts";
import { loginGateOf, loginKeys } from "../server/auth/login_gate.ts";

interface LoginData {
  csrf: string;
  next: string;
  error?: string;
  username?: string;
}

const form = z.object({
  username: z.string().max(64),
  password: z.string().max(256),
  _csrf: z.string().min(16).max(64),
  next: z.string().max(512).optional(),
});

export const handler: RouteHandler<LoginData> = {
  GET(ctx) {
    const next = safeNext(ctx.url.searchParams.get("next") ?? "/");
    if (authOf(ctx.req).principal?.kind === "user") {
      return new Response(null, { status: 303, headers: { location: next } });
    }
    const csrf = readCookie(ctx.hono, LOGIN_CSRF_COOKIE) ?? randomSecret(18);
    return ctx.render({ csrf, next }, {
      headers: { "set-cookie": loginCsrfCookie(ctx.req, csrf, ctx.server.config.trustProxy) },
    });
  },
  async POST(ctx) {
    const raw = await ctx.req.formData().catch(() => null);
    const f = form.safeParse(raw ? Object.fromEntries(raw) : {});
    const cookie = readCookie(ctx.hono, LOGIN_CSRF_COOKIE);
    const fresh = randomSecret(18);
    const again = (error: string, status: number, username?: string) =>
      ctx.render({ csrf: fresh, next: safeNext(f.data?.next), error, username }, {
        status,
        headers: { "set-cookie": loginCsrfCookie(ctx.req, fresh, ctx.server.config.trustProxy) },
      });
    if (!f.success) return again("Fill in user name and password.", 400);
    if (!cookie || !timingSafeEqual(cookie, f.data._csrf)) return again("The form expired; please sign in again.", 403);
    const address = clientAddress(ctx.hono);
    const r = await loginGateOf(ctx.server).run(
      loginKeys(f.data.username, address),
      () => checkLogin(ctx.server.kv, f.data.username, f.data.password, address),
    );
    if (r === "busy") {
      ctx.server.log.warn("sign-in refused: too many attempts in flight", { address });
      return again("Too many sign-in attempts right now; try again in a minute.", 429, f.data.username);
    }
    if (!r.ok) {
      // the name only when it is one: people type passwords into the name field
      ctx.server.log.warn("sign-in failed", {
        user: USERNAME.test(f.data.username) ? f.data.username : "(not a user name)",
        reason: r.reason,
        address,
      });
      return r.reason === "locked"
        ? again("Too many failed attempts; try again in 15 minutes.", 429, f.data.username)
        : again("Wrong user name or password.", 401, f.data.username);
    }
    const { token } = await createSession(ctx.server.kv, r.user.username);
    if (r.user.mustChangePassword) {
      // the one-time password has been used (checkLogin made it unusable): remove its file
      await Deno.remove(`${ctx.server.config.dataDir}/${BOOTSTRAP_FILE}`).catch(() => {});
    }
    ctx.server.log.info("signed in", { user: r.user.username, role: r.user.role });
    // a one-time password leads to choosing a new password before anything else
    const headers = new Headers({ location: r.user.mustChangePassword ? "/account" : safeNext(f.data.next) });
    headers.append("set-cookie", sessionCookie(ctx.req, token, ctx.server.config.trustProxy));
    headers.append("set-cookie", `${LOGIN_CSRF_COOKIE}=; Path=/login; Max-Age=0`);
    return new Response(null, { status: 303, headers });
  },
};

export default function Login({ data }: PageProps<LoginData>) {
  return (
    <section class="auth">
      <h1>Sign in</h1>
      {data.error ? <p class="badge warn" role="alert">{data.error}</p> : null}
      <form method="post" action="/login" class="stack">
        <input type="hidden" name="_csrf" value={data.csrf} />
        <input type="hidden" name="next" value={data.next} />
        <label>
          User name{" "}
          <input name="username" autocomplete="username" required maxLength={64} value={data.username ?? ""} />
        </label>
        <label>
          Password <input name="password" type="password" autocomplete="current-password" required maxLength={256} />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">
        First start? The server wrote a one-time admin password to <code>data/{BOOTSTRAP_FILE}</code> (see the README).
      </p>
    </section>
  );
}
