import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { runBatch } from "../../edge-agent/flash/batch.ts";
import { ProgressBoard } from "../../edge-agent/flash/progress.ts";
import { provisioning } from "../../edge-agent/flash/provision.ts";
import { Bk7231Sim } from "../../edge-agent/sim/bk7231.ts";
import { parseObkConfig } from "../../shared/obk-config.ts";
import { systemClock } from "../../shared/clock.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { equalBytes, fakeObkImage, fastOptions, quiet } from "./helpers.ts";

/** Captures what the progress board prints (not a terminal: one line per phase/10 %). */
function captureBoard() {
  let text = "";
  const out = {
    writeSync: (b: Uint8Array) => ((text += new TextDecoder().decode(b)), b.length),
    isTerminal: () => false,
  };
  return { board: new ProgressBoard(out), text: () => text };
}

Deno.test("batch: three ports at once (N, T, and one with the RN8209C still on the lines), backup + write + provision", async () => {
  await withTempDir(async (dir) => {
    const sims = [
      Bk7231Sim.start({ chip: "bk7231n", mac: "c8:47:8c:00:00:01", log: quiet, timing: { resetWindowMs: 1500 } }),
      Bk7231Sim.start({ chip: "bk7231t", mac: "c8:47:8c:00:00:02", log: quiet, timing: { resetWindowMs: 1500 } }),
      Bk7231Sim.start({
        chip: "bk7231n",
        mac: "c8:47:8c:00:00:03",
        log: quiet,
        timing: { resetWindowMs: 1500 },
        faults: { blockedUart: true },
      }),
    ];
    const originals = sims.map((s) => s.flash.data.slice());
    try {
      const image = fakeObkImage(0x80000);
      const { board, text } = captureBoard();
      const results = await runBatch({
        ports: sims.map((s) => s.path),
        image: { name: "OpenBK7231N_UA_1.18.299.bin", data: image },
        backupDir: `${dir}/backups`,
        stateDir: `${dir}/state`,
        provision: provisioning({
          wifi: { ssid: "house", password: "pw" },
          mqtt: { host: "10.0.0.2" },
          profile: "zmai-90",
        }),
        flasher: fastOptions({ linkTimeoutMs: 1500 }),
        clock: systemClock,
        log: quiet,
        board,
        benchHost: "bench-1",
      });
      board.finish();
      assertEquals(results.map((r) => r.ok), [true, true, false]);
      for (const [i, r] of results.slice(0, 2).entries()) {
        if (!r.ok) throw new Error("unreachable");
        const sim = sims[i];
        const u = r.result.record;
        assertEquals(u.mac, `c8:47:8c:00:00:0${i + 1}`);
        assertEquals(u.benchHost, "bench-1");
        assertEquals(u.configWritten, true);
        assertEquals(u.firmware?.name, "OpenBK7231N_UA_1.18.299.bin");
        // the backup on disk is the unit's original flash, named after it
        assert(equalBytes(await Deno.readFile(r.result.backup!.path), originals[i]));
        assertStringIncludes(r.result.backup!.path, `c8478c00000${i + 1}`);
        assert(equalBytes(sim.flash.data.subarray(0x11000, 0x11000 + image.length), image));
        const cfgAt = sim.opts.chip === "bk7231n" ? 0x1d1000 : 0x1e1000;
        const cfg = parseObkConfig(sim.flash.data.subarray(cfgAt, cfgAt + 4096));
        assertEquals(cfg.wifiSsid, "house");
        assertEquals(cfg.mqttTopic, `obk8C00000${i + 1}`);
        assertEquals(sim.stats.bootloaderViolations, []);
      }
      const failed = results[2];
      assertEquals(!failed.ok && (failed.error as { code: string }).code, "NO_BUS");
      assert(equalBytes(sims[2].flash.data, originals[2])); // untouched
      for (const s of sims) assertStringIncludes(text(), s.path);
      assertStringIncludes(text(), "failed");
      assertStringIncludes(text(), "KiB/s");
    } finally {
      for (const s of sims) await s.stop();
    }
  });
});
