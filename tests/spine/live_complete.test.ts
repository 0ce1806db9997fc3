/**
 * Every meter that reported stays listed: on /api/meters, on /api/meters/<id>
 * and in the browser, whatever the batches that followed contained (an agent
 * splits a second's readings into several batches, and meters polled at
 * different rates share one agent).
 */
import { assertEquals } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { createLogger } from "../../shared/log.ts";
import type { MeterLatest } from "../../shared/fleet.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";

const quiet = createLogger({ level: "error" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listedIds(srv: TestServer): Promise<string[]> {
  const res = await srv.api("/api/meters?limit=100000");
  assertEquals(res.status, 200);
  const body = await res.json() as { meters: MeterLatest[] };
  return body.meters.map((m) => m.deviceId).sort();
}

/** How many meters the live page says it lists in total (the table may be paged). */
async function browserCount(srv: TestServer, ids: string[]): Promise<void> {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await srv.browserLogin?.(page);
    await page.goto(`${srv.url}/`);
    await page.waitForSelector("[data-testid=meter-count]");
    assertEquals(await page.getByTestId("meter-count").getAttribute("data-total"), String(ids.length));
    // each meter can be found by id in the live view's filter
    for (const id of [ids[0], ids[Math.floor(ids.length / 2)], ids.at(-1)!]) {
      await page.fill("[data-testid=filter-q]", id);
      await page.waitForSelector(`tr[data-meter="${id}"]`, { timeout: 10_000 });
    }
    assertEquals(errors, []);
  } finally {
    await browser.close();
  }
}

Deno.test({
  name: "one agent reporting 1,000 meters: every meter is listed, in the API and the browser",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const srv = await startTestServer();
      const specs = defaultBench(1000);
      const agent = await BenchAgent.start({
        agentId: "bench-big",
        mqttUrl: srv.brokerUrl,
        ...(await srv.agentCredentials("bench-big")),
        spoolDir: `${dir}/spool`,
        pollers: [new SimulatedBench(specs, { intervalMs: 1000 })],
        batchIntervalMs: 1000,
        log: quiet,
      });
      try {
        const all = specs.map((m) => m.deviceId).sort();
        // three flushes of 1,000 readings (three batches each): every meter stays listed after each
        await waitFor(async () => (await listedIds(srv)).length > 0, { timeoutMs: 20_000 });
        for (let i = 0; i < 3; i++) {
          await sleep(1000);
          assertEquals(await listedIds(srv), all);
        }
        const one = await srv.api("/api/meters/sim-01");
        assertEquals(one.status, 200);
        assertEquals((await one.json()).agentId, "bench-big");
        await browserCount(srv, all);
      } finally {
        await agent.stop();
        await srv.close();
      }
    });
  },
});

Deno.test({
  name: "one agent mixing 1 Hz and 0.2 Hz meters: the slow meter is listed at every moment, with its own last-seen",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const srv = await startTestServer();
      const fast = defaultBench(3);
      const slow = defaultBench(4).slice(3); // sim-04, polled every 5 s (a TuyaMCU meter's pace)
      const agent = await BenchAgent.start({
        agentId: "bench-mixed",
        mqttUrl: srv.brokerUrl,
        ...(await srv.agentCredentials("bench-mixed")),
        spoolDir: `${dir}/spool`,
        pollers: [
          new SimulatedBench(fast, { intervalMs: 1000, name: "fast" }),
          new SimulatedBench(slow, { intervalMs: 5000, name: "slow" }),
        ],
        batchIntervalMs: 1000,
        log: quiet,
      });
      try {
        const all = ["sim-01", "sim-02", "sim-03", "sim-04"];
        await waitFor(async () => (await listedIds(srv)).length === 4, { timeoutMs: 20_000 });
        for (let i = 0; i < 7; i++) {
          await sleep(1000);
          const res = await srv.api("/api/meters?limit=100000");
          const body = await res.json() as { at: number; meters: (MeterLatest & { status: string })[] };
          assertEquals(body.meters.map((m) => m.deviceId).sort(), all, `second ${i}`);
          const slowOne = body.meters.find((m) => m.deviceId === "sim-04")!;
          const fastOne = body.meters.find((m) => m.deviceId === "sim-01")!;
          // its own last-seen: the slow meter's reading is older than the fast ones', and it is not stale
          assertEquals(slowOne.reading.ts <= fastOne.reading.ts, true);
          assertEquals(slowOne.status, "ok", `second ${i}: a meter within 3 of its intervals is not stale`);
        }
        await browserCount(srv, all);

        // the agent stops: in the open page its meters turn stale, and stay listed
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage();
          await srv.browserLogin?.(page);
          await page.goto(`${srv.url}/?sort=id&dir=asc`);
          await page.waitForSelector('tr[data-meter="sim-01"].status-ok');
          await page.evaluate(() => ((globalThis as unknown as { __mark: number }).__mark = 1));
          await agent.stop();
          await page.waitForSelector('tr[data-meter="sim-01"].status-stale.stale', { timeout: 15_000 });
          assertEquals(await page.locator("tr[data-meter]").count(), 4);
          assertEquals(await page.evaluate(() => (globalThis as unknown as { __mark: number }).__mark), 1);
        } finally {
          await browser.close();
        }
      } finally {
        await agent.stop();
        await srv.close();
      }
    });
  },
});
