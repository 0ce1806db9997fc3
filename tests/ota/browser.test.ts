/** The live rollout page in a real headless Chromium: pause and resume from the buttons; the status follows without a reload. */
import { assertEquals } from "@std/assert";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { rolloutOver, rolloutState, startFleet, startOtaServer } from "./fleet.ts";

Deno.test({
  name: "browser: rollout live view — pause, resume, and the status reaches finished without reload",
  sanitizeResources: false, // playwright keeps pipes to the browser process until it exits
  sanitizeOps: false,
  fn: async () => {
    const srv = await startOtaServer();
    const fleet = await startFleet(srv, 6, { firstIndex: 300 });
    const browser = await launchBrowser();
    try {
      const { r } = await rolloutOver(srv, fleet, { pacingPerMin: 60, groups: [{ name: "all", percent: 100 }] });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await srv.browserLogin?.(page);
      await page.goto(`${srv.url}/rollouts/${r.id}`);
      await page.evaluate(() => ((globalThis as unknown as { __mark: number }).__mark = 7));
      await page.getByRole("button", { name: "Pause" }).click();
      await page.waitForFunction(() => document.querySelector('[data-testid="status"]')?.textContent === "paused");
      assertEquals((await rolloutState(srv, r.id)).rollout.status, "paused");
      await page.getByRole("button", { name: "Resume" }).click();
      await page.waitForFunction(
        () => document.querySelector('[data-testid="status"]')?.textContent === "finished",
        undefined,
        { timeout: 30_000 },
      );
      assertEquals(await page.locator('[data-testid="devices"] tbody tr').count(), 6);
      assertEquals(await page.evaluate(() => (globalThis as unknown as { __mark: number }).__mark), 7);
      await waitFor(() => fleet.units.every((u) => u.version === "1.18.300"), { what: "all units updated" });
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await fleet.stop();
      await srv.close();
    }
  },
});
