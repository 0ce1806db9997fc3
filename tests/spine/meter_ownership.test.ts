/**
 * Two benches both name a meter `sim-01`: the meter belongs to the bench that
 * reported it first. The other bench's readings for it are refused and counted
 * (/api/health), never merged into the first meter's history or latest value;
 * its own meters with unclaimed ids are stored as usual.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { listHistory } from "../../server/history/store.ts";
import { REFUSED_NOT_OWNER } from "../../server/meters/store.ts";
import type { RefusedMeter } from "../../shared/fleet.ts";
import { createLogger } from "../../shared/log.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { RecordingPoller } from "../helpers/recording.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { ObkUnit } from "../energy/obk_unit.ts";

const quiet = createLogger({ level: "error" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "two benches both reporting sim-01: the first owns it, the second's readings are refused and counted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const srv = await startTestServer();
      const start = async (agentId: string, specs: ReturnType<typeof defaultBench>, seed: number) => {
        const recorder = new RecordingPoller(new SimulatedBench(specs, { intervalMs: 200, seed }));
        const agent = await BenchAgent.start({
          agentId,
          mqttUrl: srv.brokerUrl,
          ...(await srv.agentCredentials(agentId)),
          spoolDir: `${dir}/${agentId}`,
          pollers: [recorder],
          batchIntervalMs: 200,
          log: quiet,
        });
        return { agent, recorder };
      };
      const kitchen = await start("bench-kitchen", defaultBench(2), 1);
      let garage: Awaited<ReturnType<typeof start>> | null = null;
      try {
        await waitFor(async () => (await (await srv.api("/api/meters/sim-01")).json()).agentId === "bench-kitchen");
        // the garage bench names its meters sim-01 .. sim-03: sim-03 is new, the other two are the kitchen's
        garage = await start("bench-garage", defaultBench(3, 9), 9);
        await waitFor(async () => (await srv.api("/api/meters/sim-03")).status === 200);
        await sleep(1500);
        await garage.agent.stop({ drainMs: 10_000 });
        await kitchen.agent.stop({ drainMs: 10_000 });

        const meters = (await (await srv.api("/api/meters")).json()).meters as { deviceId: string; agentId: string }[];
        assertEquals(
          meters.map((m) => [m.deviceId, m.agentId]),
          [["sim-01", "bench-kitchen"], ["sim-02", "bench-kitchen"], ["sim-03", "bench-garage"]],
        );
        // the kitchen's sim-01 history holds the kitchen's readings only
        const stored = new Set(
          (await listHistory(srv.kv, "sim-01", 0, Number.MAX_SAFE_INTEGER, 1_000_000)).map((p) => `sim-01@${p.ts}`),
        );
        const kitchenOnes = [...kitchen.recorder.produced].filter((r) => r.startsWith("sim-01@"));
        const garageOnes = [...garage.recorder.produced].filter((r) => r.startsWith("sim-01@"));
        assertGreater(garageOnes.length, 3);
        assertEquals(kitchenOnes.filter((r) => !stored.has(r)), [], "the owner's readings are all stored");
        assertEquals(
          garageOnes.filter((r) => stored.has(r) && !kitchen.recorder.produced.has(r)),
          [],
          "another bench's readings merged into the owner's history",
        );
        // the garage's own meter is stored as usual
        assertGreater((await listHistory(srv.kv, "sim-03", 0, Number.MAX_SAFE_INTEGER)).length, 3);
        // refused and counted, per reading
        const health = await (await srv.api("/api/health")).json();
        assertGreater(health.ingest.rejected_by_code[REFUSED_NOT_OWNER], garageOnes.length - 1);
        // and per meter: which ids, from whom, how many, whose they are
        const garageTwos = [...garage.recorder.produced].filter((r) => r.startsWith("sim-02@"));
        const refused = await (await srv.api("/api/refused-readings")).json();
        assertEquals(refused.meters, 2);
        assertEquals(
          refused.items.map((r: RefusedMeter) => [r.deviceId, r.source, r.owner, r.readings]).sort(),
          [
            ["sim-01", "bench-garage", "bench-kitchen", garageOnes.length],
            ["sim-02", "bench-garage", "bench-kitchen", garageTwos.length],
          ],
        );
        assertEquals(
          health.ingest.rejected_by_code[REFUSED_NOT_OWNER],
          garageOnes.length + garageTwos.length,
          "the fleet-wide count is the sum of the per-meter counts",
        );
        const one = await (await srv.api("/api/meters/sim-01/refused")).json();
        assertEquals(one.items.map((r: RefusedMeter) => r.source), ["bench-garage"]);
        assertEquals((await (await srv.api("/api/meters/sim-03/refused")).json()).items, []);
        // bad queries get a clear error
        for (
          const path of ["/api/refused-readings?limit=0", "/api/refused-readings?limit=x", "/api/meters/a%20b/refused"]
        ) {
          const r = await srv.api(path);
          assertEquals(r.status, 400, path);
          assertEquals(typeof (await r.json()).error, "string");
        }
        assertEquals((await (await srv.api("/api/refused-readings?limit=1")).json()).items.length, 1);

        // the live page says so
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage();
          await srv.browserLogin?.(page);
          await page.goto(`${srv.url}/`);
          await page.waitForSelector("[data-testid=refused-count]");
          assertGreater(Number(await page.getByTestId("refused-count").getAttribute("data-refused")), 3);
          // the card names the meters and the bench whose readings were refused, and links to the meter
          const listed = page.locator("[data-testid=refused-meters] li[data-meter]");
          assertEquals(
            (await listed.evaluateAll((lis) => lis.map((li) => `${li.dataset.meter}<-${li.dataset.source}`))).sort(),
            ["sim-01<-bench-garage", "sim-02<-bench-garage"],
          );
          await listed.filter({ hasText: "sim-01" }).getByRole("link", { name: "sim-01" }).click();
          await page.waitForURL(`${srv.url}/meters/sim-01`);
          const senders = page.getByTestId("refused-senders");
          assertEquals(
            await senders.locator("tr[data-source]").evaluateAll((rows) => rows.map((r) => r.dataset.source)),
            [
              "bench-garage",
            ],
          );
          assertEquals((await senders.textContent())?.includes("belongs to bench-kitchen"), true);
        } finally {
          await browser.close();
        }
      } finally {
        await garage?.agent.stop().catch(() => {});
        await kitchen.agent.stop().catch(() => {});
        await srv.close();
      }
    });
  },
});

Deno.test({
  name: "an OpenBeken unit whose topic is a bench meter's id: its readings are refused, named per meter and sender",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const srv = await startTestServer();
      const specs = defaultBench(1).map((m) => ({ ...m, deviceId: "obk8C000042" }));
      const agent = await BenchAgent.start({
        agentId: "bench-a",
        mqttUrl: srv.brokerUrl,
        ...(await srv.agentCredentials("bench-a")),
        spoolDir: `${dir}/bench-a`,
        pollers: [new SimulatedBench(specs, { intervalMs: 200, seed: 3 })],
        batchIntervalMs: 200,
        log: quiet,
      });
      let unit: ObkUnit | null = null;
      try {
        await waitFor(async () => (await (await srv.api("/api/meters/obk8C000042")).json()).agentId === "bench-a");
        unit = await ObkUnit.connect(srv, "obk8C000042");
        for (const w of ["61.00", "62.00", "63.00"]) await unit.value("power", w);
        const refused = await waitFor(async () => {
          const r = (await (await srv.api("/api/meters/obk8C000042/refused")).json()).items as RefusedMeter[];
          return r.length === 1 && r[0].readings === 3 ? r[0] : null;
        }, { what: "the unit's three readings refused" });
        assertEquals([refused.source, refused.owner], ["openbeken", "bench-a"]);
        assertEquals((await (await srv.api("/api/meters/obk8C000042")).json()).agentId, "bench-a");
      } finally {
        await unit?.close();
        await agent.stop().catch(() => {});
        await srv.close();
      }
    });
  },
});
