/**
 * Who did it: every write's actor comes from the authenticated caller (actorOf: the
 * signed-in user, or `agent:<id>` for a bench token), never from the request, and its
 * time from the server clock. Fields that used to carry them are dropped from request
 * bodies; a free-text "on behalf of" note may travel with a write, kept apart from the actor.
 */
export { actorOf } from "./middleware.ts";

/** Request fields that named the actor or the time of a write. */
export const ACTOR_FIELDS = ["by", "who", "at", "actor", "createdBy", "uploadedBy"] as const;

/** The body without ACTOR_FIELDS (a non-object body is returned as it is, for the schema to refuse). */
export function withoutActorFields<T>(body: T): T {
  if (!body || typeof body !== "object" || Array.isArray(body)) return body;
  const out = { ...body } as Record<string, unknown>;
  for (const k of ACTOR_FIELDS) delete out[k];
  return out as T;
}
