/**
 * Whether any registered route (any method) matches a path: a signed-in user who mistypes a URL gets the
 * 404 page, not the policy's "forbidden" (a path no rule names is admin-only, so an unknown path looked like
 * a forbidden one).
 */
import type { App } from "../context.ts";
import { matchPath } from "../auth/policy.ts";

export function knownRoutes(app: App): (path: string) => boolean {
  let patterns: string[] | null = null;
  return (path) => {
    // built on first use: every route is registered by then
    patterns ??= [
      ...new Set(
        app.routes
          .filter((r) => r.path !== "*" && r.path !== "/*")
          .map((r) => r.path.replace(/\{(?:[^{}]|\{[^{}]*\})*\}/g, "")),
      ),
    ];
    return patterns.some((p) => matchPath(p, path) !== null);
  };
}
