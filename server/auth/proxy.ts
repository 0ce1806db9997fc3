/**
 * What the client's request looked like before a reverse proxy: scheme, origin
 * and address. X-Forwarded-* headers are believed only with TRUST_PROXY set
 * (anyone can send them; only a proxy we run in front overwrites them).
 */
import type { Context } from "hono";
import type { AppEnv } from "../context.ts";

/** The last entry of a comma-separated forwarding header: the one our own proxy appended. */
function lastHop(v: string | null): string | null {
  const last = v?.split(",").at(-1)?.trim();
  return last ? last : null;
}

export function requestIsHttps(req: Request, trustProxy: boolean): boolean {
  if (new URL(req.url).protocol === "https:") return true;
  return trustProxy && lastHop(req.headers.get("x-forwarded-proto"))?.toLowerCase() === "https";
}

/** The origin the browser sees (what its Origin header must equal on a same-origin POST). */
export function publicOrigin(req: Request, trustProxy: boolean): string {
  const url = new URL(req.url);
  if (!trustProxy) return url.origin;
  const host = lastHop(req.headers.get("x-forwarded-host")) ?? req.headers.get("host") ?? url.host;
  return `${requestIsHttps(req, true) ? "https" : url.protocol.slice(0, -1)}://${host}`;
}

/** The caller's IP address: the socket peer, or behind a trusted proxy the address it forwarded. */
export function clientAddress(c: Context<AppEnv>): string {
  const trust = c.get("ctx").config.trustProxy;
  const forwarded = trust ? lastHop(c.req.header("x-forwarded-for") ?? null) : null;
  if (forwarded && forwarded.length <= 64) return forwarded;
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname ?? "unknown";
}
