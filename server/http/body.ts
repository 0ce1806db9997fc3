/**
 * The one way a handler reads a JSON body. The size cap is the access policy's (server/auth/policy.ts, checked
 * before any handler runs); what is wrong with the body becomes a DomainError, so the app's onError answers 400.
 */
import type { z } from "zod";
import { DomainError } from "./errors.ts";

/** The body parsed as JSON, whatever its shape. */
export async function jsonBody(req: Request): Promise<unknown> {
  let text: string;
  try {
    text = await req.text();
  } catch (e) {
    // the body cap ends an over-long chunked body with its own DomainError (413)
    if (e instanceof DomainError) throw e;
    throw new DomainError("invalid", "the body could not be read");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new DomainError("invalid", "body is not valid JSON");
  }
}

/** The body parsed as JSON and checked by a schema; the first problem, with its field, is the error. */
export async function parsedBody<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  return checked(schema, await jsonBody(req));
}

/** A value checked by a schema, as a DomainError "invalid" naming the first problem. */
export function checked<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first.path.length ? `${first.path.join(".")}: ` : "";
  throw new DomainError("invalid", where + first.message);
}
