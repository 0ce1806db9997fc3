/**
 * Who did it: every write's actor comes from the authenticated caller (the signed-in
 * user, the bench agent's token, the unit's credential), never from the request body,
 * and its time from the server clock. A free-text "on behalf of" note may travel with
 * a write; it is kept apart from the actor and never replaces it.
 */
import type { Context } from "hono";
import type { AppEnv } from "../context.ts";
import { authOf } from "./middleware.ts";
import type { Principal } from "./policy.ts";

export function actorName(p: Principal | null): string {
  switch (p?.kind) {
    case "user":
      return p.username;
    case "agent":
      return `agent:${p.agentId}`;
    case "device":
      return `unit:${p.username}`;
    case "server":
      return "server";
    default:
      // the policy lets no anonymous caller reach a write; a write without one is a wiring bug
      throw new Error("no authenticated caller for a write");
  }
}

/** The actor of this request (Hono context or the raw Request a page handler gets). */
export function actorOf(c: Context<AppEnv> | Request): string {
  return actorName(authOf(c).principal);
}

/** Request fields that used to name the actor or the time; refused, so a client relying on them learns why. */
export const ACTOR_FIELDS = ["by", "who", "at", "actor", "createdBy", "uploadedBy"] as const;

/** The first actor/time field a body carries, if any. */
export function spoofedField(body: unknown): string | null {
  if (!body || typeof body !== "object") return null;
  return ACTOR_FIELDS.find((k) => k in (body as Record<string, unknown>)) ?? null;
}

export function actorFieldError(field: string): string {
  return `${field}: who and when are taken from your session and the server clock; ` +
    `put a note in onBehalfOf instead`;
}
