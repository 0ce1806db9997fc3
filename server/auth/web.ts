/** Helpers for the sign-in pages: cookies, safe redirects, the bootstrap password file. */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { SESSION_TTL_MS } from "./users.ts";
import { SESSION_COOKIE } from "./middleware.ts";
import { requestIsHttps } from "./proxy.ts";

export const LOGIN_CSRF_COOKIE = "mf_login_csrf";
export const BOOTSTRAP_FILE = "initial-admin-password";

/** `Secure` when the browser reached us over https (directly, or through a proxy trusted by TRUST_PROXY). */
function secure(req: Request, trustProxy: boolean): string {
  return requestIsHttps(req, trustProxy) ? "; Secure" : "";
}

export function sessionCookie(req: Request, token: string, trustProxy: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_TTL_MS / 1000}${
    secure(req, trustProxy)
  }`;
}

export function clearSessionCookie(req: Request, trustProxy: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure(req, trustProxy)}`;
}

export function loginCsrfCookie(req: Request, value: string, trustProxy: boolean): string {
  return `${LOGIN_CSRF_COOKIE}=${value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600${
    secure(req, trustProxy)
  }`;
}

export function readCookie(c: Context, name: string): string | undefined {
  return getCookie(c, name);
}

const HERE = "http://this.origin.invalid";

/**
 * Only a local path may follow sign-in (no open redirect to another site): `next` must
 * parse, against this origin, to a URL on this origin whose path, query and fragment
 * read back exactly as given. Browsers drop TAB/CR/LF and read `\\` as `/`, so
 * `/\t/evil.example` is `//evil.example` to them; the URL parser does the same and the
 * origin then differs. NUL, U+3000 and other bytes a Location header cannot carry
 * come back percent-encoded, so they differ too. Anything else falls back to `/`.
 */
export function safeNext(next: unknown): string {
  if (typeof next !== "string" || next.length === 0 || next.length > 512 || !next.startsWith("/")) return "/";
  let u: URL;
  try {
    u = new URL(next, HERE);
  } catch {
    return "/";
  }
  if (u.origin !== HERE || u.pathname + u.search + u.hash !== next) return "/";
  if (u.pathname === "/login" || u.pathname === "/logout") return "/";
  return next;
}
