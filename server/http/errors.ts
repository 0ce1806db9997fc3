/**
 * Domain errors carry a code; the one place that turns them into HTTP statuses is `errorToResponse`
 * (installed as the app's onError). Modules throw what went wrong, never a status matched from message text.
 */
export type ErrorCode = "invalid" | "not_found" | "conflict" | "forbidden" | "too_large" | "unavailable";

const STATUS: Record<ErrorCode, 400 | 403 | 404 | 409 | 413 | 503> = {
  invalid: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unavailable: 503,
};

export class DomainError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
  get status(): 400 | 403 | 404 | 409 | 413 | 503 {
    return STATUS[this.code];
  }
}

/** `{ error }` with the code's status for a DomainError; null for anything else (a bug: the caller logs it, 500). */
export function domainErrorResponse(e: unknown): Response | null {
  if (!(e instanceof DomainError)) return null;
  return Response.json({ error: e.message, code: e.code }, { status: e.status });
}
