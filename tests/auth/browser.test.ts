/**
 * What a person does in Chromium: the first sign-in with the one-time admin password
 * leads only to choosing a new one, and that one-time password then no longer works;
 * on a unit page, a viewer sees "backup stored" while an operator downloads the backup.
 */
import { assert, assertEquals } from "@std/assert";
import { launchBrowser } from "../helpers/browser.ts";
import { startTestServer } from "../helpers/server.ts";
import { ensureInitialAdmin } from "../../server/auth/bootstrap.ts";
import { storeBackup } from "../../server/flash/store.ts";
import { upsertUnitFromBench } from "../../server/inventory/units.ts";
import { sha256Hex } from "../../server/kv/blobs.ts";
import { SESSION_COOKIE } from "../../server/auth/middleware.ts";
import { testSession } from "../helpers/auth.ts";

Deno.test("browser: the one-time admin password signs in once, straight to choosing a new password", async () => {
  const srv = await startTestServer();
  const browser = await launchBrowser();
  try {
    const path = await ensureInitialAdmin(srv.server.ctx);
    const oneTime = /password: (\S+)/.exec(await Deno.readTextFile(path!))![1];
    const page = await browser.newPage();
    const signIn = async (password: string) => {
      await page.goto(`${srv.url}/admin`);
      await page.getByLabel("User name").fill("admin");
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForLoadState();
    };
    await signIn(oneTime);
    assertEquals(new URL(page.url()).pathname, "/account");
    assert(await page.getByTestId("must-change").isVisible());
    assertEquals(await page.getByLabel("Current password").count(), 0, "no current password to ask for");
    // anything else leads back here until a password is chosen
    await page.goto(`${srv.url}/admin`);
    assertEquals(new URL(page.url()).pathname, "/account");
    await page.getByLabel("New password", { exact: true }).fill("the admin's own password");
    await page.getByLabel("New password again").fill("the admin's own password");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForLoadState();
    await page.goto(`${srv.url}/admin`);
    assertEquals(new URL(page.url()).pathname, "/admin");

    // the one-time password is gone
    await page.context().clearCookies();
    await signIn(oneTime);
    assertEquals(new URL(page.url()).pathname, "/login");
    assert((await page.content()).includes("Wrong user name or password"));
    await signIn("the admin's own password");
    assertEquals(new URL(page.url()).pathname, "/admin");
  } finally {
    await browser.close();
    await srv.close();
  }
});

Deno.test("browser: a viewer sees that a backup is stored; an operator downloads it from the unit page", async () => {
  const srv = await startTestServer();
  const browser = await launchBrowser();
  try {
    const image = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
    const sha = await sha256Hex(image);
    await storeBackup(srv.kv, srv.server.ctx.backupKey, image, {
      chip: "BK7231N",
      mac: "c8:47:8c:0b:0b:01",
      flashId: null,
      benchHost: "bench-a",
      agentId: "bench-a",
      port: null,
    });
    const unit = await upsertUnitFromBench(srv.kv, {
      mac: "c8:47:8c:0b:0b:01",
      chip: "BK7231N",
      backupId: sha,
      benchHost: "bench-a",
    });
    const as = async (role: "viewer" | "operator") => {
      const s = await testSession(srv.kv, role, `b-${role}`);
      const ctx = await browser.newContext({ acceptDownloads: true });
      await ctx.addCookies([{ name: SESSION_COOKIE, value: s.token, url: srv.url, httpOnly: true, sameSite: "Lax" }]);
      const page = await ctx.newPage();
      await page.goto(`${srv.url}/units/${unit.id}`);
      return page;
    };
    const viewer = await as("viewer");
    const vHtml = await viewer.content();
    assert(vHtml.includes("backup stored"));
    assert(!vHtml.includes(sha.slice(0, 12)), "a viewer sees the backup's sha256");

    const op = await as("operator");
    const [download] = await Promise.all([
      op.waitForEvent("download"),
      op.locator(`a[href="/api/units/${unit.id}/backups/${sha}"]`).first().click(),
    ]);
    const got = await Deno.readFile((await download.path())!);
    assertEquals(await sha256Hex(got), sha);
    const audit = await (await srv.api(`/api/audit?target=unit:${unit.id}`)).json() as {
      actor: string;
      action: string;
    }[];
    assert(audit.some((e) => e.actor === "b-operator" && e.action === "backup.download"));
  } finally {
    await browser.close();
    await srv.close();
  }
});
