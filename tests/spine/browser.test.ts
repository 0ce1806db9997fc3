/** The dashboard in a real headless Chromium: it lists the simulated meters and updates live, without a reload. */
import { assertEquals, assertGreater, assertNotEquals } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { createLogger } from "../../shared/log.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";

Deno.test({
  name: "browser: dashboard lists the 12 simulated meters and a live value changes without reload",
  sanitizeResources: false, // playwright keeps pipes to the browser process until it exits
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const srv = await startTestServer();
      const agent = await BenchAgent.start({
        agentId: "bench-ui",
        mqttUrl: srv.brokerUrl,
        ...(await srv.agentCredentials("bench-ui")),
        spoolDir: `${dir}/spool`,
        pollers: [new SimulatedBench(defaultBench(12), { intervalMs: 250 })],
        batchIntervalMs: 250,
        log: createLogger({ level: "error" }),
      });
      const browser = await launchBrowser();
      try {
        await waitFor(async () => (await (await srv.api("/api/meters")).json()).meters.length === 12);
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await srv.browserLogin?.(page);
        await page.goto(`${srv.url}/?sort=id&dir=asc`); // by default the biggest consumers come first
        await page.waitForSelector("tr[data-meter]");
        assertEquals(await page.locator("tr[data-meter]").count(), 12);
        assertEquals(await page.locator("tr[data-meter]").first().getAttribute("data-meter"), "sim-01");

        // mark this document: if the page reloaded, the mark would be gone
        await page.evaluate(() => ((globalThis as unknown as { __mark: number }).__mark = 42));
        const firstEnergy = await page.locator('tr[data-meter="sim-06"] td').nth(4).textContent();
        const firstUpdated = await page.locator(".card .value").nth(2).textContent();
        await page.waitForFunction(
          ([sel, before]) => document.querySelector(sel)?.textContent !== before,
          ['tr[data-meter="sim-06"] td:nth-child(5)', firstEnergy] as const,
          { timeout: 15_000 },
        );
        assertNotEquals(await page.locator(".card .value").nth(2).textContent(), firstUpdated);
        assertEquals(await page.evaluate(() => (globalThis as unknown as { __mark: number }).__mark), 42);
        const total = await page.getByTestId("fleet-total").textContent();
        assertGreater(parseFloat(total ?? "0"), 0);
        assertEquals(errors, []);

        // the meter page draws its history chart
        await page.click('a[href="/meters/sim-06"]');
        await page.waitForSelector("[data-testid=power-chart] canvas", { timeout: 15_000 });
        assertEquals(errors, []);
      } finally {
        await browser.close();
        await agent.stop();
        await srv.close();
      }
    });
  },
});
