/**
 * What the README promises a new user, in a real browser against the real
 * start command: the server starts with its simulated bench, the dashboard
 * asks for a sign-in, the one-time admin password from the file works through
 * the real login form (CSRF and origin checks included), and the live table
 * appears.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { launchBrowser } from "../helpers/browser.ts";
import { freePort, waitFor } from "../helpers/net.ts";
import { spawnServer } from "../helpers/server_process.ts";
import { withTempDir } from "../helpers/tmp.ts";

Deno.test({
  name: "first start: sign in with the one-time admin password, choose your own, then see the live fleet",
  sanitizeResources: false, // playwright's pipes to the browser
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const env = { DATA_DIR: dir, PORT: String(freePort()), MQTT_PORT: String(freePort()) };
      const srv = await spawnServer(env, ["--sim-bench", "4"]);
      const browser = await launchBrowser();
      try {
        // written right after the server starts listening
        const file = await waitFor(() => Deno.readTextFile(`${dir}/initial-admin-password`), {
          what: "one-time password file",
        });
        assertEquals((await Deno.stat(`${dir}/initial-admin-password`)).mode! & 0o077, 0, "password file is private");
        const password = /password: (\S+)/.exec(file)?.[1];
        assert(password, "the file names the password");

        const page = await browser.newPage();
        await page.goto(`${srv.url}/`);
        assert(page.url().includes("/login"), `unauthenticated dashboard redirects to sign-in, got ${page.url()}`);

        // a wrong password is refused with a message, not a crash
        await page.fill("input[name=username]", "admin");
        await page.fill("input[name=password]", "not-the-password");
        await page.click("button[type=submit]");
        await page.waitForSelector("[role=alert]");

        await page.fill("input[name=username]", "admin");
        await page.fill("input[name=password]", password);
        await page.click("button[type=submit]");
        // the one-time password only opens /account, where the admin chooses their own before anything else
        await page.waitForSelector("[data-testid=must-change]", { timeout: 20_000 });
        assertEquals(new URL(page.url()).pathname, "/account");
        await page.fill("input[name=password]", "a long password of my own");
        await page.fill("input[name=again]", "a long password of my own");
        await page.click("form[action='/account'] button[type=submit]");
        await page.waitForURL((u) => u.pathname === "/account" && u.search.includes("changed"));
        await page.goto(`${srv.url}/`);
        await page.waitForSelector("tr[data-meter]", { timeout: 20_000 });
        assertEquals(new URL(page.url()).pathname, "/");
        await page.waitForFunction(() => document.querySelectorAll("tr[data-meter]").length === 4, undefined, {
          timeout: 20_000,
        });

        // the one-time password is gone once used
        await assertRejects(() => Deno.stat(`${dir}/initial-admin-password`), Deno.errors.NotFound);
      } finally {
        await browser.close();
        await srv.stop();
      }
    });
  },
});
