/**
 * The server side of stock-config inspection against a real server (KV file, HTTP): backups
 * already stored are inspected at start, new ones when uploaded; a batch's outlier is named;
 * the unit page shows "From stock backup" and /units filters by product key, in Chromium.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { HttpFlashServer } from "../../edge-agent/flash/server-client.ts";
import { sha256Hex } from "../../edge-agent/flash/jobs.ts";
import { storeBackup } from "../../server/flash/store.ts";
import { getStockConfig } from "../../server/stock-config/store.ts";
import { startTestServer } from "../helpers/server.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { bl0937Plug, dumpWith, tuyaMcuMeter9600 } from "./devices.ts";
import { gwDi } from "./encoder.ts";

async function until<T>(what: string, f: () => Promise<T | null | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function upload(agent: HttpFlashServer, mac: string, image: Uint8Array, port: string) {
  const sha256 = await sha256Hex(image);
  await agent.uploadBackup(
    { sha256, size: image.length, chip: "bk7231n", mac, benchHost: "bench-1", port, batchId: "b-stock-1" },
    image,
    `test~${port.split("/").pop()}~1`,
  );
  return sha256;
}

Deno.test("server: existing backups inspected at start, new ones on upload; batch outlier, unit page, /units filter", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-stock-" });
  try {
    // a backup stored before this feature existed (no inspection record)
    const old = dumpWith("bk7231n", "c8:47:8c:00:05:09", { entries: tuyaMcuMeter9600 });
    let ts = await startTestServer({ dir });
    const oldSha = (await storeBackup(ts.kv, ts.server.ctx.backupKey, old, {
      chip: "bk7231n",
      mac: "c8:47:8c:00:05:09",
      flashId: null,
      benchHost: "bench-0",
      agentId: "bench-0",
      port: null,
    })).backup.sha256;
    await ts.close();
    ts = await startTestServer({ dir });
    try {
      const oldRec = await until("the old backup's inspection", () => getStockConfig(ts.kv, oldSha));
      assertEquals(oldRec.status === "found" && oldRec.inspection.productKey, "mcu9600meterpk01");

      const creds = await ts.agentCredentials("bench-1");
      const agent = new HttpFlashServer(ts.url, "bench-1", creds.token);
      const odd = bl0937Plug.map((e) =>
        e.name === "gw_di"
          ? { ...e, value: gwDi({ pk: "keyjup78v54myhan", swv: "1.1.15", schemaId: "000004w0oh" }) }
          : e
      );
      const macs = ["c8:47:8c:00:05:01", "c8:47:8c:00:05:02", "c8:47:8c:00:05:03"];
      const shas = [
        await upload(agent, macs[0], dumpWith("bk7231n", macs[0], { entries: bl0937Plug }), "/dev/ttyUSB0"),
        await upload(agent, macs[1], dumpWith("bk7231n", macs[1], { entries: odd }), "/dev/ttyUSB1"),
        await upload(agent, macs[2], dumpWith("bk7231n", macs[2], { entries: bl0937Plug }), "/dev/ttyUSB2"),
      ];
      const check = await until("the batch's stock check", async () => {
        const j = await (await ts.api("/api/flash/batches/b-stock-1/stock-check")).json();
        return j.units.length === 3 && j.units.every((u: { status: string }) => u.status === "found") ? j : null;
      });
      assertEquals(check.outliers, [{
        id: "/dev/ttyUSB1",
        differs: ["Wi-Fi firmware 1.1.15 (the other 2: 1.1.12)"],
      }]);

      // units registered after their backups: the unit page API finds the stock config through the unit's backups
      for (const [i, mac] of macs.entries()) {
        await agent.registerUnit({
          kind: "backup",
          chip: "bk7231n",
          mac,
          backupSha256: shas[i],
          benchHost: "bench-1",
          port: `/dev/ttyUSB${i}`,
          at: new Date().toISOString(),
        });
      }
      const units = (await (await ts.api("/api/units")).json()) as { id: string; mac: string }[];
      const plugId = units.find((u) => u.mac === macs[0])!.id;
      const oddId = units.find((u) => u.mac === macs[1])!.id;
      const sc = await (await ts.api(`/api/units/${plugId}/stock-config`)).json();
      assertEquals(sc.config.status, "found");
      assertEquals(sc.config.inspection.productKey, "keyjup78v54myhan");
      assertEquals(sc.config.proposal.gpio["26"], "Rel");
      assert(!JSON.stringify(sc).includes("hunter2") && !JSON.stringify(sc).includes("house-net"));

      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await ts.browserLogin?.(page);
        await page.goto(`${ts.url}/units/${plugId}`);
        const section = page.getByTestId("stock-config");
        assertStringIncludes(await section.innerText(), "From stock backup");
        const gpio = await page.getByTestId("stock-gpio").innerText();
        assertStringIncludes(gpio, "P26");
        assertStringIncludes(gpio, "relay 1");
        assertStringIncludes(gpio, "BL0937SEL");
        assertStringIncludes(await page.getByTestId("stock-autoexec").innerText(), "startDriver BL0937");
        assertStringIncludes(await section.innerText(), "Wi-Fi 1.1.12");

        // the inventory: filter by product key, the odd unit flagged
        await page.goto(`${ts.url}/units`);
        await page.fill("input[name=pk]", "keyjup78v54myhan");
        await page.click("form.filters button[type=submit]");
        await page.waitForURL(/pk=keyjup78v54myhan/);
        const rows = await page.locator("table[data-testid=units] tbody tr").evaluateAll((trs) =>
          trs.map((tr) => tr.getAttribute("data-unit"))
        );
        assertEquals(rows.sort(), [plugId, oddId, units.find((u) => u.mac === macs[2])!.id].sort());
        const flagged = page.locator(`tr[data-unit="${oddId}"] [data-testid=stock-outlier]`);
        assertStringIncludes(await flagged.innerText(), "Wi-Fi firmware 1.1.15");
        assertEquals(await page.locator("[data-testid=stock-outlier]").count(), 1);

        // the flash page names the outlier of the batch
        await page.goto(`${ts.url}/flash`);
        const odd1 = page.locator("[data-testid=batch-stock-check] tr[data-outlier=yes]");
        assertEquals(await odd1.count(), 1);
        assertStringIncludes(await odd1.innerText(), "/dev/ttyUSB1");
      } finally {
        await browser.close();
      }
    } finally {
      await ts.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
