/**
 * Uploading firmware from the /firmware page in a real Chromium, as an admin does: the multipart form carries its
 * CSRF token as a `_csrf` field (no header), with and without JavaScript; a truncated or corrupted RBL is refused
 * with a message that says what is wrong, and nothing is stored.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { Buffer } from "node:buffer";
import { launchBrowser } from "../helpers/browser.ts";
import { buildFakeRbl, fakeRblName } from "../../edge-agent/sim/obk-image.ts";
import { listFirmware } from "../../server/firmware/store.ts";
import { NEW, startOtaServer } from "./fleet.ts";

const rblFile = (bytes: Uint8Array, name = fakeRblName("BK7231N", NEW)) => ({
  name,
  mimeType: "application/octet-stream",
  buffer: Buffer.from(bytes),
});

Deno.test({
  name: "browser: /firmware upload form works without JavaScript; bad RBLs are refused with a clear message",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = await startOtaServer();
    const browser = await launchBrowser();
    try {
      const ctx = await browser.newContext({ javaScriptEnabled: false });
      const page = await ctx.newPage();
      await srv.browserLogin?.(page);
      const good = buildFakeRbl({ chip: "BK7231N", version: NEW, size: 300_000 });
      const submit = async (status: number) => {
        const [res] = await Promise.all([
          page.waitForResponse((r) => r.url() === `${srv.url}/firmware` && r.request().method() === "POST"),
          page.getByRole("button", { name: "Upload" }).click(),
        ]);
        assertEquals(res.status(), status, await res.text());
        await page.waitForLoadState();
      };

      // truncated in transfer: the header announces more than the file holds
      await page.goto(`${srv.url}/firmware`);
      await page.setInputFiles('input[name="file"]', rblFile(good.subarray(0, 150_000)));
      await submit(422);
      assertMatch(await page.getByTestId("message").textContent() ?? "", /refused: corrupt RBL package: .*truncated/);

      // one flipped bit
      const corrupt = good.slice();
      corrupt[200_000] ^= 1;
      await page.setInputFiles('input[name="file"]', rblFile(corrupt));
      await submit(422);
      assertMatch(
        await page.getByTestId("message").textContent() ?? "",
        /refused: corrupt RBL package: .*CRC mismatch/,
      );
      assertEquals(await listFirmware(srv.kv), []);

      await page.setInputFiles('input[name="file"]', rblFile(good));
      await submit(200);
      assertMatch(await page.getByTestId("message").textContent() ?? "", /registered OpenBK7231N_1\.18\.300\.rbl/);
      const fw = await listFirmware(srv.kv);
      assertEquals(fw.map((f) => [f.version, f.size, f.uploadedBy]), [[NEW, good.length, "test-admin"]]);
      await ctx.close();
    } finally {
      await browser.close();
      await srv.close();
    }
  },
});

Deno.test({
  name: "browser: /firmware upload with JavaScript shows the size and upload progress, then the new image",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = await startOtaServer();
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await srv.browserLogin?.(page);
      await page.goto(`${srv.url}/firmware`);
      const good = buildFakeRbl({ chip: "BK7231N", version: NEW, size: 1_500_000 });
      await page.setInputFiles('input[name="file"]', rblFile(good));
      // the size is shown as soon as a file is picked
      await page.waitForFunction(() =>
        /1[.,]5\d* MB/.test(document.querySelector('[data-testid="upload-size"]')?.textContent ?? "")
      );
      await page.getByRole("button", { name: "Upload" }).click();
      await page.waitForFunction(() =>
        /registered/.test(document.querySelector('[data-testid="message"]')?.textContent ?? "")
      );
      const progress = await page.getByTestId("upload-progress").getAttribute("value");
      assertEquals(progress, String(good.length));
      // the list is refreshed after the message: wait for the row rather than race the refresh
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="firmware"] tbody tr').length === 1);
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await srv.close();
    }
  },
});
