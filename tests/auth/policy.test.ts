/**
 * Must hold: unauthenticated and wrong-role requests are refused for EVERY route
 * the app registers (enumerated from the Hono app at test time, so routes added
 * later are covered without touching this file), and the allowed role gets through.
 */
import { assert, assertEquals } from "@std/assert";
import { type Role, ROLES } from "../../server/auth/users.ts";
import { DEFAULT_RULE, ROUTES, ruleFor } from "../../server/auth/policy.ts";
import { startTestServer } from "../helpers/server.ts";
import { fetchAs, testAgentCredentials, type TestSession, testSession } from "../helpers/auth.ts";

/** The only routes anyone may call without signing in. A new public route must be added here on purpose. */
const EXPECTED_PUBLIC = [
  "GET /login",
  "POST /login",
  "GET /static/*",
  "GET /_islands/*",
  "GET /api/health",
];

/** What the roles demand, whatever the table says: [method, concrete path, lowest role that may]. */
const ROLE_FLOORS: [string, string, Role][] = [
  ["GET", "/api/meters", "viewer"],
  ["POST", "/api/auth/tokens", "admin"],
  ["POST", "/api/auth/users", "admin"],
  ["GET", "/api/auth/tokens", "admin"],
  ["POST", "/admin", "admin"],
  ["POST", "/api/firmware", "admin"],
  ["POST", "/api/rollouts", "admin"],
  ["POST", "/api/rollouts/x/pause", "admin"],
  ["POST", "/api/units/x/rework", "operator"],
  ["POST", "/api/units/x/calibrations", "operator"],
  ["PUT", "/api/agents/bench-x/flash/backups/x/parts/0", "operator"],
  ["DELETE", "/api/anything-new", "admin"],
];

const OWN_AGENT = "bench-policy";
const SAMPLES = ["x", "sim-01", "styles.css", "a.js", "1", "00000000-0000-0000-0000-000000000000"];

/** A concrete path for a Hono route pattern: `:id` → sample, `:f{re}` → a sample matching re, `*` → x. */
function concrete(pattern: string): string | null {
  let ok = true;
  const path = pattern.replace(/:(\w+)(\{((?:[^{}]|\{[^{}]*\})+)\})?/g, (_m, name, _b, re) => {
    if (name === "agentId") return OWN_AGENT;
    if (!re) return "x";
    const hit = SAMPLES.find((s) => new RegExp(`^(?:${re})$`).test(s));
    if (!hit) ok = false;
    return hit ?? "x";
  }).replace(/\*/g, "x");
  return ok ? path : null;
}

const refusedUnauth = (r: Response) =>
  r.status === 401 || (r.status === 302 && (r.headers.get("location") ?? "").startsWith("/login"));

Deno.test("the table gives each capability the role the issue asks for", () => {
  for (const [m, path, floor] of ROLE_FLOORS) {
    const { rule } = ruleFor(m, path);
    const min = ROLES.find((r) => rule.allow.includes(r));
    assertEquals(min, floor, `${m} ${path}: lowest role ${min}, should be ${floor}`);
    assert(!rule.allow.includes("public") && !rule.allow.includes("agent"), `${m} ${path} open to non-users`);
  }
});

Deno.test("every registered route: unauthenticated and wrong-role requests refused, the right role admitted", async () => {
  const srv = await startTestServer();
  try {
    const sessions = {} as Record<Role, TestSession>;
    for (const r of ROLES) sessions[r] = await testSession(srv.kv, r);
    const agent = await testAgentCredentials(srv.kv, OWN_AGENT);
    const other = await testAgentCredentials(srv.kv, "bench-other");
    const routes = srv.server.app.routes
      .filter((r) => !(r.method === "ALL" && r.path === "/*")) // the middlewares
      .flatMap((r) => (r.method === "ALL" ? ["GET", "POST"] : [r.method]).map((m) => ({ method: m, path: r.path })));
    const seen = new Set<string>();
    const publicSeen: string[] = [];
    let checked = 0, requests = 0;
    const call = async (s: TestSession | null, method: string, path: string, headers: HeadersInit = {}) => {
      requests++;
      const init: RequestInit = {
        method,
        redirect: "manual",
        headers: { accept: "text/html,application/json", ...headers },
      };
      if (method !== "GET" && method !== "HEAD") {
        init.body = "{}";
        (init.headers as Record<string, string>)["content-type"] = "application/json";
      }
      const res = await fetchAs(srv.url, s, path, init);
      await res.body?.cancel();
      return res;
    };
    for (const { method, path: pattern } of routes) {
      const key = `${method} ${pattern}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const path = concrete(pattern);
      if (!path) throw new Error(`no sample path for ${pattern}: add one to SAMPLES`);
      const { rule } = ruleFor(method, path);
      if (rule.allow.includes("public")) {
        publicSeen.push(`${rule.method} ${rule.path}`);
        continue;
      }
      checked++;
      const anon = await call(null, method, path);
      assert(refusedUnauth(anon), `${key}: unauthenticated got ${anon.status}`);
      const bad = await call(null, method, path, { authorization: "Bearer mfa_" + "A".repeat(43) });
      assertEquals(bad.status, 401, `${key}: bogus bearer token got ${bad.status}`);

      // fresh sessions per route: a route may end the session it was called with (POST /logout)
      for (const r of ROLES) sessions[r] = await testSession(srv.kv, r);
      const minRole = ROLES.find((r) => rule.allow.includes(r));
      for (const r of ROLES) {
        const res = await call(sessions[r], method, path);
        if (minRole && ROLES.indexOf(r) >= ROLES.indexOf(minRole)) {
          assert(![401, 403].includes(res.status), `${key}: ${r} should pass, got ${res.status}`);
        } else {
          assertEquals(res.status, 403, `${key}: ${r} should be refused`);
        }
      }
      // an agent token only where the table says so (agent:self needs the route's :agentId to be its own)
      const asOther = await call(null, method, path, { authorization: `Bearer ${other.token}` });
      if (!rule.allow.includes("agent")) {
        assertEquals(asOther.status, 403, `${key}: another agent's token should be refused`);
      }
      const asAgent = await call(null, method, path, { authorization: `Bearer ${agent.token}` });
      if (rule.allow.includes("agent") || rule.allow.includes("agent:self")) {
        assert(![401, 403].includes(asAgent.status), `${key}: its own agent should pass, got ${asAgent.status}`);
      } else {
        assertEquals(asAgent.status, 403, `${key}: agent token should be refused`);
      }

      if (minRole && !["GET", "HEAD"].includes(method)) {
        // state-changing with a session but no CSRF token, or from another origin: refused
        const s = await testSession(srv.kv, minRole);
        const noCsrf = await fetch(srv.url + path, {
          method,
          headers: { cookie: s.cookie, "content-type": "application/json" },
          body: "{}",
        });
        await noCsrf.body?.cancel();
        assertEquals(noCsrf.status, 403, `${key}: missing CSRF accepted`);
        const cross = await call(await testSession(srv.kv, minRole), method, path, { origin: "https://evil.example" });
        assertEquals(cross.status, 403, `${key}: cross-origin write accepted`);
      }
    }
    assertEquals([...new Set(publicSeen)].sort(), EXPECTED_PUBLIC.filter((p) => publicSeen.includes(p)).sort());
    for (const p of publicSeen) assert(EXPECTED_PUBLIC.includes(p), `unexpected public route ${p}`);

    // a path nobody registered: 404 for anyone signed in (a typo is not "forbidden"), the sign-in demand for the
    // anonymous (which says nothing about what exists); a registered route no rule names is still admin-only
    assertEquals(ruleFor("GET", "/api/not-yet-written").rule, DEFAULT_RULE);
    assertEquals((await call(sessions.viewer, "GET", "/api/not-yet-written")).status, 404);
    assertEquals((await call(sessions.admin, "GET", "/api/not-yet-written")).status, 404);
    const page = await fetchAs(srv.url, sessions.viewer, "/unitz", { headers: { accept: "text/html" } });
    assertEquals(page.status, 404);
    const html = await page.text();
    assert(
      html.includes("Page not found") && html.includes('href="/"'),
      "the 404 page, in the layout, with a way back",
    );
    assertEquals((await call(null, "DELETE", "/api/not-yet-written")).status, 401);
    assertEquals((await call(sessions.admin, "GET", "/api/not-yet-written")).status, 404);
    console.log(
      `policy: ${routes.length} registered route/method pairs, ${checked} protected and checked, ` +
        `${publicSeen.length} public, ${requests} requests, ${ROUTES.length} rules in the table`,
    );
    assert(checked >= 8, "suspiciously few protected routes");
  } finally {
    await srv.close();
  }
});
