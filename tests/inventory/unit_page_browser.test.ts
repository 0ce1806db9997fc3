/**
 * In a real Chromium, as an operator would: open a deployed OpenBeken unit's page (inventory knows it by MAC,
 * it speaks as obk8C100001), calibrate it from the form against a trusted meter's reading of a steady load,
 * see the next readings confirm it, then follow unit → live meter → energy → back to the unit.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { ObkSimUnit } from "../../edge-agent/sim/openbeken.ts";
import { calibrationHistory } from "../../server/calibration/store.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import { createUnit } from "../../server/inventory/units.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";

Deno.test({
  name: "browser: calibrate a deployed unit from its page; unit → meter → energy links",
  sanitizeResources: false, // playwright keeps pipes to the browser process until it exits
  sanitizeOps: false,
  fn: async () => {
    const srv = await startTestServer();
    // a 60 W load at 230 V that the uncalibrated chip reads 2 % high in volts and 3 % high in watts
    const sim = new ObkSimUnit({
      index: 0x0001,
      meterIntervalMs: 300,
      itemGapMs: 5,
      load: { voltage: 230, power: 60 },
      meterGain: { voltage: 1.02, current: 0.99, power: 1.03 },
      credentials: (t) => srv.deviceCredentials(t),
    });
    const unit = await createUnit(srv.kv, { mac: sim.mac, model: "pziot-e01", meteringChip: "BL0942" }, {
      by: "test",
    });
    assertEquals([unit.id, sim.topic], ["u-c8478c100001", "obk8C100001"]);
    const browser = await launchBrowser();
    try {
      await sim.start(srv.brokerUrl);
      await waitFor(async () => {
        const p = await getUnitPresence(srv.kv, sim.topic);
        return p?.mac === sim.mac && p.live.power !== undefined;
      }, { what: "the unit online with readings" });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await srv.browserLogin?.(page);
      await page.goto(`${srv.url}/units/${unit.id}`);
      const form = page.locator('[data-testid="calibration-form"]');
      await form.locator('input[name="volts"]').fill("230");
      await form.locator('input[name="amps"]').fill(String(60 / 230));
      await form.locator('input[name="watts"]').fill("60");
      await form.getByRole("button", { name: "Calibrate" }).click();
      await page.waitForSelector('[data-testid="message"]', { timeout: 30_000 });
      const message = await page.locator('[data-testid="message"]').textContent();
      assertStringIncludes(message ?? "", "verified on the next readings");

      // the device took the three commands, and the record says who, when, the reference, before and after
      assertEquals(sim.calibrations.map((c) => c.quantity), ["voltage", "current", "power"]);
      const [rec] = await calibrationHistory(srv.kv, unit.id);
      assertEquals([rec.mode, rec.by, rec.topic, rec.verified], ["deployed", "test-admin", sim.topic, true]);
      assertEquals(rec.reference.power, 60);
      assert(Math.abs(rec.readingsBefore!.power - 61.8) < 0.2, JSON.stringify(rec.readingsBefore));
      assert(Math.abs(rec.readingsAfter!.power - 60) < 0.2, JSON.stringify(rec.readingsAfter));
      assert(Math.abs(rec.errorBeforePct!.power - 3) < 0.4 && Math.abs(rec.errorAfterPct!.power) < 0.4);
      assert(Math.abs(Date.now() - rec.at) < 60_000);
      // the history exports as CSV with who, reference and the readings before and after
      const csv = await (await srv.api(`/api/units/${unit.id}/calibrations.csv`)).text();
      const [header, row] = csv.trim().split("\r\n");
      assertStringIncludes(header, "reading_before_w,reading_after_v");
      assertStringIncludes(row, `${unit.id},1,`);
      assertStringIncludes(row, ",test-admin,deployed,");

      // unit → live meter → energy → unit
      await page.locator('[data-testid="device-links"] a[data-link="meter"]').click();
      await page.waitForURL(`${srv.url}/meters/${sim.topic}`);
      await page.locator('[data-testid="device-links"] a[data-link="energy"]').click();
      await page.waitForURL(`${srv.url}/energy/unit/${sim.topic}`);
      await page.locator('[data-testid="device-links"] a[data-link="unit"]').click();
      await page.waitForURL(`${srv.url}/units/${unit.id}`);
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await sim.stop();
      await srv.close();
    }
  },
});
