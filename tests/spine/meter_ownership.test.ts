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
import { createLogger } from "../../shared/log.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { RecordingPoller } from "../helpers/recording.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";

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

        // the live page says so
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage();
          await srv.browserLogin?.(page);
          await page.goto(`${srv.url}/`);
          await page.waitForSelector("[data-testid=refused-count]");
          assertGreater(Number(await page.getByTestId("refused-count").getAttribute("data-refused")), 3);
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
