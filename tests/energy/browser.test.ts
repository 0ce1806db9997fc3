/** The energy pages in a real headless Chromium: the fleet table, and the unit page's bars and power chart draw. */
import { assertEquals } from "@std/assert";
import { ManualClock } from "../../shared/clock.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";
import { Replayer } from "./replay.ts";

Deno.test({
  name: "browser: energy table, and a unit's day of hourly bars and power chart",
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
      await page.click('tr[data-meter="obkUI0001"] a[href^="/energy/unit/obkUI0001"]');
      await page.waitForSelector("[data-testid=energy-bars] canvas", { timeout: 15_000 });
      await page.waitForSelector("[data-testid=chart-power] canvas", { timeout: 15_000 });
      // the day's table adds up to what the fleet table says for today
      assertEquals((await page.getByTestId("period-total").textContent())?.trim(), "0.600");
      assertEquals(errors, []);
    } finally {
      await browser.close();
      r.close();
      await unit.close();
      await srv.close();
    }
  },
});
