/**
 * Changing your own password on /account, over real HTTP: the current
 * password is asked again, CSRF is required, weak or mismatched new passwords
 * are refused without changing anything, and a change ends every other
 * session while this browser stays signed in.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { createUser } from "../../server/auth/users.ts";
import { startTestServer } from "../helpers/server.ts";

function sessionOf(res: Response): string {
  const c = res.headers.getSetCookie().find((c) => c.startsWith("mf_session="))!;
  return c.split(";")[0];
}

async function signIn(url: string, username: string, password: string): Promise<Response> {
  const form = await fetch(`${url}/login`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
  const loginCookie = form.headers.getSetCookie().find((c) => c.startsWith("mf_login_csrf="))!.split(";")[0];
  return await fetch(`${url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: loginCookie },
    body: new URLSearchParams({ username, password, _csrf: csrf }),
  });
}

Deno.test("account: change your own password; the current one is checked, other sessions end, this one continues", async () => {
  const srv = await startTestServer();
  try {
    const old = "old password, twelve+";
    const next = "a new, longer passphrase";
    await createUser(srv.kv, { username: "alice", role: "viewer", password: old });
    const here = sessionOf(await signIn(srv.url, "alice", old));
    const elsewhere = sessionOf(await signIn(srv.url, "alice", old)); // the bench PC she forgot to sign out of

    const page = await fetch(`${srv.url}/account`, { headers: { cookie: here } });
    assertEquals(page.status, 200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1];
    const post = (body: Record<string, string>) =>
      fetch(`${srv.url}/account`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie: here, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(body),
      });
    const refused = async (body: Record<string, string>, status: number, message: RegExp) => {
      const res = await post(body);
      assertEquals(res.status, status);
      assertMatch(await res.text(), message);
    };
    const noCsrf = await post({ current: old, password: next, again: next });
    assertEquals(noCsrf.status, 403);
    await noCsrf.body?.cancel();
    await refused(
      { _csrf: csrf, current: "not my password", password: next, again: next },
      401,
      /current password is wrong/,
    );
    await refused({ _csrf: csrf, current: old, password: "short", again: "short" }, 400, /at least 12 characters/);
    await refused({ _csrf: csrf, current: old, password: next, again: next + "!" }, 400, /differ/);
    assertEquals((await signIn(srv.url, "alice", old)).status, 303, "nothing changed by the refused attempts");

    const ok = await post({ _csrf: csrf, current: old, password: next, again: next });
    assertEquals(ok.status, 303);
    assertEquals(ok.headers.get("location"), "/account?changed");
    const fresh = sessionOf(ok);
    const after = await fetch(`${srv.url}/account?changed`, { headers: { cookie: fresh } });
    assertEquals(after.status, 200);
    assertMatch(await after.text(), /Password changed/);

    for (const gone of [here, elsewhere]) {
      const res = await fetch(`${srv.url}/api/meters`, { headers: { cookie: gone } });
      assertEquals(res.status, 401, "sessions from before the change are ended");
      await res.body?.cancel();
    }
    const oldLogin = await signIn(srv.url, "alice", old);
    assertEquals(oldLogin.status, 401);
    await oldLogin.body?.cancel();
    assertEquals((await signIn(srv.url, "alice", next)).status, 303);
  } finally {
    await srv.close();
  }
});
