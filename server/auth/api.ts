/**
 * JSON API for identities (admin only, see policy.ts) and `GET /api/auth/me`.
 *   GET  /api/auth/me
 *   GET  /api/auth/users               POST /api/auth/users {username, role, password}
 *   POST /api/auth/users/:username     {role?, disabled?}
 *   GET  /api/auth/tokens              POST /api/auth/tokens {agentId, label?}  → token shown once
 *   POST /api/auth/tokens/:id/revoke
 *   GET  /api/auth/devices             POST /api/auth/devices {topics, username?, group?} → password shown once
 *   POST /api/auth/devices/:username/revoke
 *   GET  /api/auth/lockouts            POST /api/auth/lockouts/clear {username?, address?}
 */
import { jsonBody } from "../http/body.ts";
import type { Context } from "hono";
import type { App, AppEnv, ServerContext } from "../context.ts";
import {
  adminChangeUser,
  adminClearLockout,
  adminCreateUser,
  AdminError,
  adminIssueAgentToken,
  adminIssueDeviceCredential,
  adminListing,
  adminRevokeAgentToken,
  adminRevokeDeviceCredential,
} from "./admin.ts";
import { authOf } from "./middleware.ts";

function by(c: Context<AppEnv>): string {
  const p = authOf(c).principal;
  return p?.kind === "user" ? p.username : p?.kind ?? "?";
}

/** Admin API bodies are JSON (a form post here would be a mistake, not a fallback). */
function adminBody(c: Context<AppEnv>): Promise<unknown> {
  if (!(c.req.header("content-type") ?? "").startsWith("application/json")) {
    throw new AdminError(400, "send application/json");
  }
  return jsonBody(c.req.raw);
}

function wrap(fn: (c: Context<AppEnv>) => Promise<unknown>, status = 200) {
  return async (c: Context<AppEnv>) => {
    return c.json(await fn(c) as object, status as 200);
  };
}

export function mountAuthApi(app: App, ctx: ServerContext) {
  app.get("/api/auth/me", (c) => {
    const p = authOf(c).principal;
    return c.json(p?.kind === "user" ? { kind: "user", username: p.username, role: p.role } : { kind: p?.kind });
  });
  app.get("/api/auth/users", wrap(async () => (await adminListing(ctx)).users));
  app.post("/api/auth/users", wrap(async (c) => await adminCreateUser(ctx, by(c), await adminBody(c)), 201));
  app.post(
    "/api/auth/users/:username",
    wrap(async (c) => await adminChangeUser(ctx, by(c), c.req.param("username") ?? "", await adminBody(c))),
  );
  app.get("/api/auth/lockouts", wrap(async () => (await adminListing(ctx)).lockouts));
  app.post("/api/auth/lockouts/clear", wrap(async (c) => await adminClearLockout(ctx, by(c), await adminBody(c))));
  app.get("/api/auth/tokens", wrap(async () => (await adminListing(ctx)).tokens));
  app.post("/api/auth/tokens", wrap(async (c) => await adminIssueAgentToken(ctx, by(c), await adminBody(c)), 201));
  app.post(
    "/api/auth/tokens/:id/revoke",
    wrap(async (c) => await adminRevokeAgentToken(ctx, by(c), c.req.param("id") ?? "")),
  );
  app.get("/api/auth/devices", wrap(async () => (await adminListing(ctx)).devices));
  app.post(
    "/api/auth/devices",
    wrap(async (c) => await adminIssueDeviceCredential(ctx, by(c), await adminBody(c)), 201),
  );
  app.post(
    "/api/auth/devices/:username/revoke",
    wrap(async (c) => await adminRevokeDeviceCredential(ctx, by(c), c.req.param("username") ?? "")),
  );
}
