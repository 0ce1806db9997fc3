/**
 * Sign-in end to end over real HTTP: the first-start admin file, login CSRF,
 * wrong/right password, session cookie flags, roles, logout, open-redirect
 * guard, security headers, body caps.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { ensureInitialAdmin } from "../../server/auth/bootstrap.ts";
import { BOOTSTRAP_FILE } from "../../server/auth/web.ts";
import { createUser } from "../../server/auth/users.ts";
import { listAgentTokens } from "../../server/auth/tokens.ts";
import { startTestServer } from "../helpers/server.ts";
import { fetchAs, testSession } from "../helpers/auth.ts";

function cookiesOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of res.headers.getSetCookie()) {
    const [nv] = c.split(";");
    const i = nv.indexOf("=");
    out[nv.slice(0, i)] = nv.slice(i + 1);
  }
  return out;
}

async function loginForm(url: string): Promise<{ csrf: string; cookie: string }> {
  const res = await fetch(`${url}/login?next=/admin`);
  const html = await res.text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
  return { csrf, cookie: `mf_login_csrf=${cookiesOf(res).mf_login_csrf}` };
}

async function postLogin(url: string, form: Record<string, string>, cookie: string, headers: HeadersInit = {}) {
  return await fetch(`${url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, ...headers },
    body: new URLSearchParams(form),
  });
}

Deno.test("first start: one-time admin password in a 0600 file; signing in with it works once and removes the file", async () => {
  const srv = await startTestServer();
  try {
    const path = await ensureInitialAdmin(srv.server.ctx);
    assertEquals(path, `${srv.dir}/${BOOTSTRAP_FILE}`);
    assertEquals((await Deno.stat(path!)).mode! & 0o777, 0o600);
    assertEquals(await ensureInitialAdmin(srv.server.ctx), null, "only when there are no users");
    const password = /password: (\S+)/.exec(await Deno.readTextFile(path!))![1];

    // wrong password, missing login-CSRF, cross-site post: all refused
    let f = await loginForm(srv.url);
    assertEquals(
      (await postLogin(srv.url, { username: "admin", password: "nope-nope-nope", _csrf: f.csrf }, f.cookie)).status,
      401,
    );
    f = await loginForm(srv.url);
    assertEquals((await postLogin(srv.url, { username: "admin", password, _csrf: f.csrf }, "")).status, 403);
    f = await loginForm(srv.url);
    assertEquals(
      (await postLogin(srv.url, { username: "admin", password, _csrf: f.csrf }, f.cookie, {
        origin: "https://evil.example",
      })).status,
      403,
    );

    f = await loginForm(srv.url);
    const ok = await postLogin(srv.url, { username: "admin", password, _csrf: f.csrf, next: "/admin" }, f.cookie);
    assertEquals(ok.status, 303);
    // the one-time password leads to choosing your own first (tests/auth/security.test.ts covers the rest)
    assertEquals(ok.headers.get("location"), "/account");
    const setCookie = ok.headers.getSetCookie().find((c) => c.startsWith("mf_session="))!;
    assertMatch(setCookie, /HttpOnly/);
    assertMatch(setCookie, /SameSite=Lax/);
    const first = `mf_session=${cookiesOf(ok).mf_session}`;
    assertEquals(await Deno.stat(path!).then(() => true, () => false), false, "bootstrap file removed after use");
    const accountCsrf = /name="_csrf" value="([^"]+)"/.exec(
      await (await fetch(`${srv.url}/account`, { headers: { cookie: first } })).text(),
    )![1];
    const changed = await fetch(`${srv.url}/account`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: first, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        _csrf: accountCsrf,
        password: "admin's own password",
        again: "admin's own password",
      }),
    });
    assertEquals(changed.status, 303);
    const cookie = `mf_session=${cookiesOf(changed).mf_session}`;

    const admin = await fetch(`${srv.url}/admin`, { headers: { cookie } });
    assertEquals(admin.status, 200);
    const html = await admin.text();
    assertMatch(html, /Bench agent tokens/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];

    // the admin page's forms work with their CSRF token and not without it
    const issue = (body: Record<string, string>) =>
      fetch(`${srv.url}/admin`, {
        method: "POST",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(body),
      });
    const noCsrf = await issue({ action: "issue-token", agentId: "bench-x" });
    assertEquals(noCsrf.status, 403);
    await noCsrf.body?.cancel();
    const made = await issue({ _csrf: csrf, action: "issue-token", agentId: "bench-x", label: "kitchen" });
    assertEquals(made.status, 200);
    const madeHtml = await made.text();
    assertMatch(madeHtml, /<code id="secret">mfa_[A-Za-z0-9_-]{43}<\/code>/);
    // its row has a Revoke form; posting it revokes that token, and the row then says so
    const tokenId =
      /name="action" value="revoke-token"\/><input type="hidden" name="id" value="([^"]+)"/.exec(madeHtml)![1];
    const revoked = await issue({ _csrf: csrf, action: "revoke-token", id: tokenId });
    assertEquals(revoked.status, 200);
    assertMatch(await revoked.text(), /<td>bench-x<\/td><td>kitchen<\/td>.*?<td>revoked /s);
    assert((await listAgentTokens(srv.kv)).find((t) => t.id === tokenId)?.revokedAt);

    // sign out: a POST with CSRF; the session is then dead
    const out = await fetch(`${srv.url}/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf }),
    });
    assertEquals(out.status, 303);
    const after = await fetch(`${srv.url}/api/meters`, { headers: { cookie } });
    assertEquals(after.status, 401);
    await after.body?.cancel();
  } finally {
    await srv.close();
  }
});

Deno.test("roles: viewer reads, cannot administer; an open redirect after sign-in is refused", async () => {
  const srv = await startTestServer();
  try {
    await createUser(srv.kv, { username: "vera", role: "viewer", password: "correct horse battery" });
    const f = await loginForm(srv.url);
    const res = await postLogin(srv.url, {
      username: "vera",
      password: "correct horse battery",
      _csrf: f.csrf,
      next: "//evil.example/x",
    }, f.cookie);
    assertEquals(res.status, 303);
    assertEquals(res.headers.get("location"), "/");
    const cookie = `mf_session=${cookiesOf(res).mf_session}`;
    const meters = await fetch(`${srv.url}/api/meters`, { headers: { cookie } });
    assertEquals(meters.status, 200);
    await meters.body?.cancel();
    const admin = await fetch(`${srv.url}/api/auth/tokens`, { headers: { cookie } });
    assertEquals(admin.status, 403);
    await admin.body?.cancel();
    // unauthenticated browser navigation goes to the login page, keeping where it wanted to go
    const page = await fetch(`${srv.url}/meters/sim-01`, { redirect: "manual", headers: { accept: "text/html" } });
    assertEquals(page.status, 302);
    assertEquals(page.headers.get("location"), "/login?next=%2Fmeters%2Fsim-01");
  } finally {
    await srv.close();
  }
});

Deno.test("pages carry security headers; bodies over the cap are refused (declared and chunked)", async () => {
  const srv = await startTestServer();
  try {
    const s = await testSession(srv.kv, "admin");
    const page = await fetchAs(srv.url, s, "/");
    await page.body?.cancel();
    assertEquals(page.status, 200);
    assertMatch(page.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
    assertEquals(page.headers.get("x-content-type-options"), "nosniff");
    assertEquals(page.headers.get("x-frame-options"), "DENY");
    assertEquals(page.headers.get("cache-control"), "no-store");
    const login = await fetch(`${srv.url}/login`);
    await login.body?.cancel();
    assert(login.headers.get("content-security-policy"));

    const big = JSON.stringify({ agentId: "bench-big", label: "x".repeat(200_000) });
    const declared = await fetchAs(srv.url, s, "/api/auth/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: big,
    });
    assertEquals(declared.status, 413);
    await declared.body?.cancel();
    const chunks = new TextEncoder().encode(big);
    const chunked = await fetchAs(srv.url, s, "/api/auth/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < chunks.length; i += 8192) c.enqueue(chunks.slice(i, i + 8192));
          c.close();
        },
      }),
    });
    assert([400, 413].includes(chunked.status), `chunked oversize got ${chunked.status}`);
    await chunked.body?.cancel();
    // and validation: a wrong shape is a 400 with a reason, not a 500
    const bad = await fetchAs(srv.url, s, "/api/auth/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agentId: "../../etc/passwd" }),
    });
    assertEquals(bad.status, 400);
    assertMatch((await bad.json()).error, /agentId/);
  } finally {
    await srv.close();
  }
});

Deno.test("ten wrong passwords lock the account for a while; the right one is then refused too", async () => {
  const srv = await startTestServer();
  try {
    await createUser(srv.kv, { username: "olga", role: "operator", password: "the right password" });
    const f = await loginForm(srv.url);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await postLogin(srv.url, { username: "olga", password: `wrong ${i} wrong`, _csrf: f.csrf }, f.cookie);
      await r.body?.cancel();
      statuses.push(r.status);
    }
    assertEquals(statuses, Array(10).fill(401));
    const locked = await postLogin(
      srv.url,
      { username: "olga", password: "the right password", _csrf: f.csrf },
      f.cookie,
    );
    assertEquals(locked.status, 429);
    assertMatch(await locked.text(), /Too many failed attempts/);
  } finally {
    await srv.close();
  }
});
