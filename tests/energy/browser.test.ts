/** The energy pages in a real headless Chromium: the fleet table, and the unit page's charts hydrate and draw. */
import { assertEquals } from "@std/assert";
import { ManualClock } from "../../shared/clock.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";
import { Replayer } from "./replay.ts";

Deno.test({
  name: "browser: energy table and a unit's power/day/month charts",
  sanitizeResources: false, // playwright keeps pipes to the browser process until it exits
  sanitizeOps: false,
  fn: async () => {
    const start = Date.UTC(2026, 10, 21, 8, 0);
    const clock = new ManualClock(start);
    const srv = await startTestServer({ clock });
    const unit = await ObkUnit.connect(srv, "obkUI0001");
    const r = new Replayer(srv, clock);
    const browser = await launchBrowser();
    try {
      for (let m = 0; m <= 60; m += 5) {
        r.at(start + m * 60_000);
        await r.sample(unit, "energycounter", (500 + m * 10).toFixed(3)); // 120 W
        await r.sample(unit, "power", "120.00");
      }
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await srv.browserLogin?.(page);
      await page.goto(`${srv.url}/energy`);
      assertEquals(
        (await page.locator('tr[data-meter="obkUI0001"] [data-field="today"]').textContent())?.trim(),
        "0.600",
      );
      await page.click('a[href="/energy/unit/obkUI0001"]');
      for (const kind of ["power", "energy"]) {
        await page.waitForSelector(`[data-testid=chart-${kind}] canvas`, { timeout: 15_000 });
      }
      assertEquals(await page.locator("[data-testid=chart-energy] canvas").count(), 2); // per day and per month
      assertEquals(errors, []);
    } finally {
      await browser.close();
      r.close();
      await unit.close();
      await srv.close();
    }
  },
});
