/**
 * The one HTTP gate, mounted before every route (after Hono's secure-headers): body caps,
 * who is calling (session cookie or agent bearer token), the policy check
 * (server/auth/policy.ts, default deny) and CSRF on state-changing requests.
 */
import { DomainError } from "../http/errors.ts";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../context.ts";
import { findAgentToken } from "./tokens.ts";
import { getSession } from "./users.ts";
import { timingSafeEqual } from "./crypto.ts";
import { multipartBoundary, peekMultipartField } from "./multipart_field.ts";
import { allows, DEFAULT_MAX_BODY, type Principal, ruleFor } from "./policy.ts";
import { publicOrigin } from "./proxy.ts";

export const SESSION_COOKIE = "mf_session";
export const CSRF_HEADER = "x-csrf-token";
export const CSRF_FIELD = "_csrf";

export interface AuthState {
  principal: Principal | null;
  /** the session token (for logout); never logged */
  sessionToken?: string;
}

const states = new WeakMap<Request, AuthState>();

/** Who is calling, for handlers and pages (pass c.req.raw or RouteContext.req). */
export function authOf(req: Request | Context<AppEnv>): AuthState {
  const r = req instanceof Request ? req : req.req.raw;
  return states.get(r) ?? { principal: null };
}

export function csrfTokenOf(req: Request | Context<AppEnv>): string {
  const p = authOf(req).principal;
  return p?.kind === "user" ? p.csrf : "";
}

/** Who a write is recorded as: the signed-in user's name, or `agent:<id>` for a bench agent's token. */
export function actorOf(req: Request | Context<AppEnv>): string {
  const p = authOf(req).principal;
  if (p?.kind === "user") return p.username;
  if (p?.kind === "agent") return `agent:${p.agentId}`;
  throw new Error("no authenticated caller to record as the actor");
}

/** Hono's secure-headers with meterfleet's policy: same-origin everything, no framing, no powerful features. */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: "DENY",
    // not "no-referrer": with it Chromium sends `Origin: null` on form posts, which the same-origin check refuses
    referrerPolicy: "same-origin",
    crossOriginOpenerPolicy: "same-origin",
    crossOriginResourcePolicy: "same-origin",
    permissionsPolicy: { camera: [], microphone: [], geolocation: [], usb: [], serial: [] },
    // HSTS is the TLS proxy's decision: over plain HTTP on a bench LAN it would only mislead
    strictTransportSecurity: false,
  });
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** what a session that must first choose a new password may reach */
const UNTIL_NEW_PASSWORD = new Set(["/account", "/logout", "/api/auth/me"]);

/** A body stream that errors once more than `max` bytes have passed: uploads stay streamed and capped. */
export function cappedStream(body: ReadableStream<Uint8Array>, max: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        seen += chunk.byteLength;
        if (seen > max) ctl.error(new BodyTooLarge(max));
        else ctl.enqueue(chunk);
      },
    }),
  );
}

export class BodyTooLarge extends DomainError {
  constructor(readonly max: number) {
    super("too_large", `request body exceeds ${max} bytes`);
    this.name = "BodyTooLarge";
  }
}

function wantsHtml(c: Context): boolean {
  return c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html");
}

async function identify(c: Context<AppEnv>): Promise<AuthState | "bad_token"> {
  const kv = c.get("ctx").kv;
  const authz = c.req.header("authorization");
  if (authz !== undefined) {
    const m = /^Bearer\s+(\S{1,200})$/i.exec(authz);
    const rec = m ? await findAgentToken(kv, m[1]) : null;
    if (!rec) return "bad_token";
    return { principal: { kind: "agent", agentId: rec.agentId, tokenId: rec.id } };
  }
  const sid = getCookie(c, SESSION_COOKIE);
  if (sid) {
    const s = await getSession(kv, sid);
    if (s) {
      return {
        principal: {
          kind: "user",
          username: s.user.username,
          role: s.user.role,
          csrf: s.session.csrf,
          ...(s.user.mustChangePassword ? { mustChangePassword: true } : {}),
        },
        sessionToken: sid,
      };
    }
  }
  return { principal: null };
}

async function csrfOk(c: Context<AppEnv>, expected: string): Promise<boolean> {
  let got = c.req.header(CSRF_HEADER) ?? new URL(c.req.url).searchParams.get(CSRF_FIELD) ?? undefined;
  const type = c.req.header("content-type") ?? "";
  if (!got && type.startsWith("application/x-www-form-urlencoded")) {
    // a clone, so the handler can still read the body; forms are capped small by the body limit
    const v = (await c.req.raw.clone().formData().catch(() => null))?.get(CSRF_FIELD);
    if (typeof v === "string") got = v;
  }
  const boundary = got ? null : multipartBoundary(type);
  if (boundary) {
    // upload forms: the field is read from the head of the body only (it precedes the file), never the whole upload
    const peeked = await peekMultipartField(c.req.raw, boundary, CSRF_FIELD);
    c.req.raw = peeked.request;
    if (peeked.value !== null) got = peeked.value;
  }
  return !!got && !!expected && timingSafeEqual(got, expected);
}

function sameOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== publicOrigin(c.req.raw, c.get("ctx").config.trustProxy)) return false;
  const site = c.req.header("sec-fetch-site");
  return site === undefined || site === "same-origin" || site === "none";
}

/** `isRoute` tells whether any route serves a path: unknown paths answer 404 to a signed-in caller. */
export function authMiddleware(isRoute: (path: string) => boolean = () => true): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    try {
      await gate(c, next, isRoute);
    } finally {
      // pages show per-user state: never from a shared cache
      if ((c.res.headers.get("content-type") ?? "").startsWith("text/html")) {
        c.res.headers.set("cache-control", "no-store");
      }
    }
  };
}

async function gate(c: Context<AppEnv>, next: () => Promise<void>, isRoute: (path: string) => boolean) {
  const method = c.req.method;
  const { rule, params } = ruleFor(method, c.req.path);

  // body caps: declared length first, then a streaming cap for chunked bodies
  const max = rule.maxBody ?? DEFAULT_MAX_BODY;
  if (c.req.raw.body) {
    const len = c.req.header("content-length");
    if (len !== undefined && !(Number(len) <= max)) {
      c.res = c.json({ error: `request body exceeds ${max} bytes` }, 413);
      return;
    }
    if (len === undefined) {
      c.req.raw = new Request(c.req.raw, { body: cappedStream(c.req.raw.body, max), duplex: "half" } as RequestInit);
    }
  }

  const who = await identify(c);
  if (who === "bad_token") {
    c.res = c.json({ error: "invalid or revoked token" }, 401, { "www-authenticate": "Bearer" });
    return;
  }
  const p = who.principal;
  if (p && !isRoute(c.req.path)) {
    c.res = await c.notFound();
    return;
  }
  if (!allows(rule, params, p)) {
    if (!p) {
      if (wantsHtml(c)) {
        const next = c.req.path + (new URL(c.req.url).search || "");
        c.res = c.redirect(`/login?next=${encodeURIComponent(next)}`, 302);
      } else {
        c.res = c.json({ error: "sign in required" }, 401);
      }
    } else {
      c.res = c.json({ error: "forbidden" }, 403);
    }
    return;
  }
  if (
    p?.kind === "user" && p.mustChangePassword && !rule.allow.includes("public") && !UNTIL_NEW_PASSWORD.has(c.req.path)
  ) {
    // signed in with the one-time password: choosing a new one comes before anything else
    c.res = wantsHtml(c) ? c.redirect("/account", 303) : c.json({ error: "set a new password first (/account)" }, 403);
    return;
  }
  if (!SAFE.has(method)) {
    if (!sameOrigin(c)) {
      c.res = c.json({ error: "cross-origin request refused" }, 403);
      return;
    }
    // cookie-authenticated writes carry the session's CSRF token; bearer tokens are not ambient, so need none
    if (p?.kind === "user" && !(await csrfOk(c, p.csrf))) {
      c.res = c.json({ error: "missing or wrong CSRF token" }, 403);
      return;
    }
  }
  states.set(c.req.raw, who);
  await next();
}
