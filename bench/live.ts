/**
 * `deno task bench live [--sizes 1000,10000] [--agents 10] [--browsers 1,5,20] [--seconds 10]`
 *
 * A server process fed by simulated bench agents (1 Hz, several agents), then
 * headless Chromium pages on the live fleet page. For each fleet size and each
 * number of browsers it prints: page load until live (navigation start until
 * the stream is open and the rows are drawn), SSE bytes/s per browser on the
 * wire (compressed, from the DevTools network events), the browser main
 * thread's busy share (DevTools TaskDuration, wall time: it includes waiting for
 * a core) with its own CPU time (ThreadTime) and JS heap per page, and the
 * server's CPU (median of 2 s windows, against a no-browser baseline measured
 * just before each run; per browser, and per browser added after the first,
 * which starts the feed's one read of the fleet a second that all share).
 * Goals at 10,000 meters: live < 1 s, < 100 kB/s per browser, main thread
 * < 20 % busy, server CPU < 2 % of a core per browser.
 */
import { parseArgs } from "node:util";
import type { Browser, CDPSession, Page } from "playwright-core";
import { BenchAgent } from "../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../edge-agent/drivers/simulated.ts";
import { SESSION_COOKIE } from "../server/auth/middleware.ts";
import { createLogger } from "../shared/log.ts";
import { launchBrowser } from "../tests/helpers/browser.ts";
import { testAgentCredentials, testSession } from "../tests/helpers/auth.ts";
import { freePort, waitFor } from "../tests/helpers/net.ts";
import { spawnServer } from "../tests/helpers/server_process.ts";
import { cpuSeconds, rssMiB, serverPid } from "./ingest.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** after the last page closes, the feed keeps reading for up to 10 s (a page's stream may be about to open) */
const intervalAfterClose = 11_000;

interface Watched {
  page: Page;
  cdp: CDPSession;
  liveBytes: number;
  loadMs: number;
  /** when the HTML was parsed (DOMContentLoaded), for comparison */
  dclMs: number;
}

async function openLivePage(browser: Browser, url: string, token: string): Promise<Watched> {
  const context = await browser.newContext();
  await context.addCookies([{ name: SESSION_COOKIE, value: token, url, httpOnly: true, sameSite: "Lax" }]);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Performance.enable");
  const w: Watched = { page, cdp, liveBytes: 0, loadMs: NaN, dclMs: NaN };
  const liveRequests = new Set<string>();
  cdp.on("Network.requestWillBeSent", (e) => {
    if (e.request.url.includes("/api/live")) liveRequests.add(e.requestId);
  });
  cdp.on("Network.dataReceived", (e) => {
    if (liveRequests.has(e.requestId)) w.liveBytes += e.encodedDataLength || e.dataLength;
  });
  await page.goto(`${url}/`, { waitUntil: "commit" });
  // live: the stream is open (badge) and the first rows are drawn
  await page.waitForFunction(
    () =>
      document.querySelector(".card .badge:not(.warn)")?.textContent === "live" &&
      document.querySelectorAll("tr[data-meter]").length > 0,
    undefined,
    { timeout: 60_000, polling: 10 },
  );
  w.loadMs = await page.evaluate(() => performance.now());
  w.dclMs = await page.evaluate(() =>
    (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).domContentLoadedEventEnd
  );
  return w;
}

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return Object.fromEntries(metrics.map((m: { name: string; value: number }) => [m.name, m.value]));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

export default async function (args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: "string", default: "1000,10000" },
      agents: { type: "string", default: "10" },
      browsers: { type: "string", default: "1,5,20" },
      seconds: { type: "string", default: "10" },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const browserCounts = values.browsers.split(",").map(Number);
  const seconds = Number(values.seconds);
  const agentsN = Number(values.agents);
  const log = createLogger({ level: "error" });
  console.log(
    `live bench: ${sizes.join(", ")} meters at 1 Hz from ${agentsN} agents; ${
      browserCounts.join(", ")
    } browsers (pages in one headless Chromium), ${seconds} s windows`,
  );
  console.log(
    "meters  browsers  live (median/max ms; HTML parsed at)  SSE B/s per browser  main thread busy (its CPU)  JS heap MB  server RSS MB  server CPU %core: none → with them (per browser)  per added browser",
  );
  for (const meters of sizes) {
    const dir = await Deno.makeTempDir({ prefix: "meterfleet-bench-live-" });
    const env: Record<string, string> = {
      DATA_DIR: `${dir}/srv`,
      PORT: String(freePort()),
      MQTT_PORT: String(freePort()),
    };
    await Deno.mkdir(env.DATA_DIR, { recursive: true });
    const kv = await Deno.openKv(`${env.DATA_DIR}/meterfleet.kv`);
    const session = await testSession(kv, "admin");
    const creds = [];
    for (let a = 0; a < agentsN; a++) creds.push(await testAgentCredentials(kv, `bench-${a}`));
    kv.close();
    const srv = await spawnServer(env);
    const pid = await serverPid(env.PORT);
    const agents: BenchAgent[] = [];
    const perAgent = Math.ceil(meters / agentsN);
    for (let a = 0; a < agentsN; a++) {
      const specs = defaultBench(Math.min(perAgent, meters - a * perAgent), a + 1)
        .map((m, i) => ({ ...m, deviceId: `b${a}-m${i}` }));
      agents.push(
        await BenchAgent.start({
          agentId: `bench-${a}`,
          mqttUrl: `mqtt://127.0.0.1:${env.MQTT_PORT}`,
          ...creds[a],
          spoolDir: `${dir}/spool-${a}`,
          pollers: [new SimulatedBench(specs, { intervalMs: 1000, seed: a })],
          batchIntervalMs: 1000,
          log,
        }),
      );
    }
    const browser = await launchBrowser();
    try {
      await waitFor(async () => {
        const r = await fetch(`${srv.url}/api/meters?limit=1`, { headers: { cookie: session.cookie } });
        return (await r.json()).total === meters;
      }, { timeoutMs: 120_000, what: `${meters} meters listed` });
      await sleep(intervalAfterClose); // /api/meters above woke the feed: let it pause before the first baseline
      // server CPU as the median of 2-second windows: ingest's periodic work (compaction, energy) comes in bursts that
      // would otherwise swing one long window by several % of a core
      const serverCpu = async () => {
        const windows: number[] = [];
        for (const end = performance.now() + seconds * 1000; performance.now() < end;) {
          const c0 = await cpuSeconds(pid), t = performance.now();
          await sleep(2000);
          windows.push((await cpuSeconds(pid) - c0) / ((performance.now() - t) / 1000));
        }
        return median(windows);
      };
      const runs: { n: number; cols: string[]; cpu: number; base: number }[] = [];
      for (const n of browserCounts) {
        // each run against its own baseline, measured just before it (no page open, the feed paused)
        const base = await serverCpu();
        const pages: Watched[] = [];
        for (let i = 0; i < n; i++) pages.push(await openLivePage(browser, srv.url, session.token));
        await sleep(2000); // settle: everything open and streaming
        const m0 = await Promise.all(pages.map((p) => metrics(p.cdp)));
        const bytes0 = pages.map((p) => p.liveBytes);
        const t0 = performance.now();
        const cpu = await serverCpu();
        const elapsed = (performance.now() - t0) / 1000;
        const m1 = await Promise.all(pages.map((p) => metrics(p.cdp)));
        const bytesPerSec = pages.map((p, i) => (p.liveBytes - bytes0[i]) / elapsed);
        const busy = m1.map((m, i) => (m.TaskDuration - m0[i].TaskDuration) / elapsed);
        // the main thread's own CPU time: busy minus the time it waited for a core (many renderers on two cores)
        const threadCpu = m1.map((m, i) => (m.ThreadTime - m0[i].ThreadTime) / elapsed);
        const heap = m1.map((m) => m.JSHeapUsedSize / 1e6);
        const loads = pages.map((p) => p.loadMs);
        const rss = await rssMiB(pid);
        runs.push({
          n,
          cpu,
          base,
          cols: [
            String(meters).padStart(6),
            String(n).padStart(8),
            `${median(loads).toFixed(0)} / ${Math.max(...loads).toFixed(0)}; ${
              median(pages.map((p) => p.dclMs)).toFixed(0)
            }`.padStart(36),
            median(bytesPerSec).toFixed(0).padStart(19),
            `${(median(busy) * 100).toFixed(1)} % (${(median(threadCpu) * 100).toFixed(1)} %)`.padStart(24),
            median(heap).toFixed(1).padStart(10),
            rss.toFixed(0).padStart(13),
          ],
        });
        for (const p of pages) await p.page.context().close();
        await sleep(intervalAfterClose);
      }
      for (const [i, r] of runs.entries()) {
        // the first browser starts the feed's one read of the fleet a second, shared by all: the rest add only theirs
        const added = i > 0 ? ((r.cpu - r.base - (runs[0].cpu - runs[0].base)) / (r.n - runs[0].n)) * 100 : NaN;
        console.log(
          [
            ...r.cols,
            `${(r.base * 100).toFixed(1)} → ${(r.cpu * 100).toFixed(1)} (${
              (((r.cpu - r.base) / r.n) * 100).toFixed(2)
            })`
              .padStart(31),
            Number.isNaN(added) ? "" : added.toFixed(2).padStart(17),
          ].join("  "),
        );
      }
    } finally {
      await browser.close();
      for (const a of agents) await a.stop();
      await srv.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}
