/**
 * OTA from the browser, in a real headless Chromium: upload, preview, Start, and the live rollout page (pause and
 * resume from the buttons; the status follows without a reload).
 */
import { assertEquals } from "@std/assert";
import { Buffer } from "node:buffer";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { buildFakeRbl, fakeRblName } from "../../edge-agent/sim/obk-image.ts";
import type { Rollout } from "../../server/ota/store.ts";
import {
  json,
  NEW,
  OLD,
  registerFleet,
  rolloutOver,
  rolloutState,
  startFleet,
  startOtaServer,
  uploadFirmware,
} from "./fleet.ts";

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

Deno.test({
  name:
    "browser: upload an RBL on /firmware, preview a rollout from the form, press Start, watch it reach 100 % verified",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = await startOtaServer();
    const fleet = await startFleet(srv, 5, { firstIndex: 320 });
    const browser = await launchBrowser();
    try {
      await registerFleet(srv, fleet);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await srv.browserLogin?.(page);

      // the image, through the page's form
      await page.goto(`${srv.url}/firmware`);
      const image = buildFakeRbl({ chip: "BK7231N", version: NEW, size: 400_000 });
      await page.setInputFiles('input[name="file"]', {
        name: fakeRblName("BK7231N", NEW),
        mimeType: "application/octet-stream",
        buffer: Buffer.from(image),
      });
      await page.getByRole("button", { name: "Upload" }).click();
      await page.waitForFunction(() =>
        /registered/.test(document.querySelector('[data-testid="message"]')?.textContent ?? "")
      );
      await page.getByRole("link", { name: "roll out" }).click();

      // the form: a name, the groups as rows (the island removes two default rows and edits the first)
      await page.waitForURL(/\/rollouts\?firmware=/);
      await page.locator('input[name="name"]').fill("browser rollout");
      await page.getByRole("button", { name: "Remove" }).nth(1).click();
      await page.getByRole("button", { name: "Remove" }).nth(1).click();
      await page.getByLabel("group 1 name").fill("all");
      await page.getByLabel("group 1 percent").fill("100");
      await page.getByLabel("group 1 success threshold").fill("100");
      await page.locator('input[name="pacingPerMin"]').fill("3000");
      assertEquals(await page.getByTestId("group-total").textContent(), "100 %");
      await page.getByRole("button", { name: "Preview targets" }).click();

      // the preview, before anything exists
      await page.getByTestId("preview").waitFor();
      assertEquals(await page.getByTestId("preview-count").textContent(), "5");
      assertEquals(await page.getByTestId("preview-chips").textContent(), "5 × BK7231N");
      assertEquals(await page.getByTestId("preview-versions").textContent(), `5 × ${OLD}`);
      assertEquals(await page.getByTestId("preview-presence").textContent(), "5 online, 0 offline, 0 never seen");
      assertEquals(await page.locator('[data-testid="preview-units"] tbody tr').count(), 5);
      assertEquals((await json<unknown[]>(srv.api("/api/rollouts"))).length, 0);
      assertEquals(fleet.units.map((u) => u.otaCommands), [0, 0, 0, 0, 0]);

      await page.getByTestId("start").click();
      await page.waitForURL(/\/rollouts\/r-/);
      await page.waitForFunction(
        () => document.querySelector('[data-testid="verified-pct"]')?.textContent === "100 % verified",
        undefined,
        { timeout: 30_000 },
      );
      assertEquals(await page.getByTestId("status").textContent(), "finished");
      const [r] = await json<Rollout[]>(srv.api("/api/rollouts"));
      assertEquals([r.name, r.total, r.counts.verified, r.createdBy, r.groups.map((g) => [g.name, g.percent])], [
        "browser rollout",
        5,
        5,
        "test-admin",
        [["all", 100]],
      ]);
      assertEquals(fleet.units.map((u) => [u.version, u.otaCommands]), fleet.units.map(() => [NEW, 1]));
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await fleet.stop();
      await srv.close();
    }
  },
});

Deno.test({
  name: "browser: without JavaScript the rollout form previews, refuses bad rows with the field, and starts",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = await startOtaServer();
    const fleet = await startFleet(srv, 3, { firstIndex: 340 });
    const browser = await launchBrowser();
    try {
      await registerFleet(srv, fleet);
      await uploadFirmware(srv);
      const ctx = await browser.newContext({ javaScriptEnabled: false });
      const page = await ctx.newPage();
      await srv.browserLogin?.(page);
      await page.goto(`${srv.url}/rollouts`);
      await page.locator('input[name="name"]').fill("plain form");
      // the default rows are canary 5 / early 25 / rest 70, plus one spare; a bad share names its group
      await page.locator('input[name="group_percent"]').nth(1).fill("twenty");
      await page.getByRole("button", { name: "Preview targets" }).click();
      assertEquals(await page.getByTestId("message").textContent(), 'group early share: a number, got "twenty"');
      await page.locator('input[name="group_percent"]').nth(1).fill("25");
      await page.getByRole("button", { name: "Preview targets" }).click();
      assertEquals(await page.getByTestId("preview-count").textContent(), "3");
      await page.getByTestId("start").click();
      await page.waitForURL(/\/rollouts\/r-/);
      const [r] = await json<Rollout[]>(srv.api("/api/rollouts"));
      assertEquals(r.groups.map((g) => [g.name, g.percent, g.successThreshold, g.errorThreshold]), [
        ["canary", 5, 100, 0],
        ["early", 25, 80, 10],
        ["rest", 70, 80, 10],
      ]);
      await ctx.close();
    } finally {
      await browser.close();
      await fleet.stop();
      await srv.close();
    }
  },
});
