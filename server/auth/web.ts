/** Helpers for the sign-in pages: cookies, safe redirects, the bootstrap password file. */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { SESSION_TTL_MS } from "../db/users.ts";
import { SESSION_COOKIE } from "./middleware.ts";

export const LOGIN_CSRF_COOKIE = "mf_login_csrf";
export const BOOTSTRAP_FILE = "initial-admin-password";

function secure(req: Request): string {
  return new URL(req.url).protocol === "https:" ? "; Secure" : "";
}

export function sessionCookie(req: Request, token: string): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_TTL_MS / 1000}${secure(req)}`;
}

export function clearSessionCookie(req: Request): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure(req)}`;
}

export function loginCsrfCookie(req: Request, value: string): string {
  return `${LOGIN_CSRF_COOKIE}=${value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600${secure(req)}`;
}

export function readCookie(c: Context, name: string): string | undefined {
  return getCookie(c, name);
}

/** Only a local path may follow sign-in (no open redirect to another site). */
export function safeNext(next: unknown): string {
  if (typeof next !== "string" || next.length > 512) return "/";
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || /[\r\n]/.test(next)) return "/";
  if (next.startsWith("/login") || next.startsWith("/logout")) return "/";
  return next;
}
