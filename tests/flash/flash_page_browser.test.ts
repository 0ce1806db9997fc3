/**
 * In a real Chromium: a bench agent (its own process, `agent run --flash-port …`) connected to the server with
 * two simulated BK7231N on ptys; an operator starts a "back up + flash" batch from /flash, watches it finish
 * live, then restores a unit's stock backup from the unit page. The agent takes jobs only on its own topic
 * and reports progress as any batch.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { registerFirmware } from "../../server/firmware/store.ts";
import { listBenches } from "../../server/flash/jobs_store.ts";
import { listAudit } from "../../server/kv/audit.ts";
import { listUnits } from "../../server/inventory/units.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { startSimCli } from "./cli_helpers.ts";
import { fakeObkImage } from "./helpers.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "browser: start a batch from /flash on a connected agent; restore a unit's stock backup from its page",
  sanitizeResources: false, // playwright keeps pipes to the browser process until it exits
  sanitizeOps: false,
  fn: async () => {
    const srv = await startTestServer();
    const sims = await Promise.all([0, 1].map(() => startSimCli([])));
    const browser = await launchBrowser();
    await withTempDir(async (dir) => {
      const { token } = await srv.agentCredentials("bench-1");
      const { firmware } = await registerFirmware(srv.kv, {
        filename: "OpenBK7231N_UA_1.18.299.bin",
        bytes: fakeObkImage(0x20000),
        by: "test",
      });
      const agent = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${root}edge-agent/main.ts`,
          "run",
          "--id",
          "bench-1",
          "--mqtt",
          srv.brokerUrl,
          "--sim",
          "0",
          ...sims.flatMap((s) => ["--flash-port", s.path]),
          "--server",
          srv.url,
        ],
        cwd: dir,
        env: { AGENT_TOKEN: token!, LOG_LEVEL: "error" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        await waitFor(async () => (await listBenches(srv.kv)).some((b) => b.online && b.ports.length === 2), {
          what: "the bench agent announced its flash ports",
          timeoutMs: 30_000,
        });
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await srv.browserLogin?.(page);
        await page.goto(`${srv.url}/flash`);
        const form = page.locator('form[data-bench="bench-1"]');
        for (const s of sims) await form.locator(`input[name="port"][value="${s.path}"]`).check();
        await form.locator('select[name="kind"]').selectOption("flash");
        await form.locator('select[name="firmware"]').selectOption(firmware.sha256);
        await form.getByRole("button", { name: "Start" }).click();
        await page.waitForSelector('[data-testid="message"]');
        const message = (await page.locator('[data-testid="message"]').textContent()) ?? "";
        assertStringIncludes(message, "sent: flash on");
        const jobId = /job (j-\S+) sent/.exec(message)![1];
        // progress streams back to the page as for any batch: both ports reach "done" without a reload
        await page.waitForFunction(
          (id) =>
            [...document.querySelectorAll(`[data-batch="${id}"] tr[data-port] td:nth-child(2)`)]
              .map((td) => td.textContent).join(",") === "done,done",
          jobId,
          { timeout: 60_000 },
        );
        const units = await listUnits(srv.kv);
        assertEquals(units.length, 2);
        for (const u of units) {
          assertEquals(u.flashes.map((f) => [f.kind, f.firmware, f.batchId]), [[
            "batch",
            "OpenBeken 1.18.299 (BK7231N)",
            jobId,
          ]]);
        }
        const audit = await listAudit(srv.kv, { target: "agent:bench-1" });
        assertEquals(audit.map((e) => [e.actor, e.action]), [["test-admin", "flash.job.flash"]]);

        // restore the first unit's stock backup from its page, on the port it sits on
        const unit = units.find((u) => u.flashes[0].port === sims[0].path)!;
        await page.goto(`${srv.url}/units/${unit.id}`);
        const restore = page.locator('[data-testid="restore-form"]');
        await restore.locator('select[name="backup"]').selectOption(unit.backups[0].backupId);
        await restore.locator('select[name="target"]').selectOption(`bench-1 ${sims[0].path}`);
        await restore.getByRole("button", { name: "Restore" }).click();
        await page.waitForSelector('[data-testid="message"]');
        assertStringIncludes((await page.locator('[data-testid="message"]').textContent()) ?? "", "restore job");
        const restored = await waitFor(async () => {
          const u = (await listUnits(srv.kv)).find((x) => x.id === unit.id)!;
          return u.flashes.at(-1)?.kind === "restore" ? u : null;
        }, { what: "the restore reported", timeoutMs: 60_000 }).catch(async (e) => {
          const { listBatches } = await import("../../server/flash/store.ts");
          console.log(JSON.stringify(await listBatches(srv.kv), null, 1));
          throw e;
        });
        assertEquals(restored.firmwareReported, "stock firmware");
        assert(restored.flashes.at(-1)!.firmware!.startsWith("stock firmware"));
        assertEquals(errors, []);
      } finally {
        agent.kill("SIGTERM");
        await agent.status;
      }
    }).finally(async () => {
      await browser.close();
      await Promise.all(sims.map((s) => s.stop()));
      await srv.close();
    });
  },
});
