/**
 * Flash batches on the BK7231 simulator whose images hold stock Tuya stores written by the
 * test encoder: "profile: from-backup" provisioning with no hand-written profile, and the
 * stock-config outlier check before anything is erased.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { runBatch } from "../../edge-agent/flash/batch.ts";
import { ProgressBoard } from "../../edge-agent/flash/progress.ts";
import { provisioning } from "../../edge-agent/flash/provision.ts";
import { Bk7231Sim } from "../../edge-agent/sim/bk7231.ts";
import { parseObkConfig } from "../../shared/obk-config.ts";
import { systemClock } from "../../shared/clock.ts";
import type { StockCheckOutcome } from "../../edge-agent/flash/stock_check.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { equalBytes, fakeObkImage, fastOptions, quiet } from "../flash/helpers.ts";
import { bl0937Plug, dumpWith, tuyaMcuMeter9600 } from "./devices.ts";
import { gwDi } from "./encoder.ts";

function board() {
  let text = "";
  const out = {
    writeSync: (b: Uint8Array) => ((text += new TextDecoder().decode(b)), b.length),
    isTerminal: () => false,
  };
  return { board: new ProgressBoard(out), text: () => text };
}

const sim = (mac: string, image: Uint8Array) =>
  Bk7231Sim.start({ chip: "bk7231n", mac, image, log: quiet, timing: { resetWindowMs: 1500 } });

const CFG_N = 0x1d1000;

Deno.test("profile from backup: a BL0937 plug and a TuyaMCU meter provisioned from their own stock config", async () => {
  await withTempDir(async (dir) => {
    const sims = [
      sim("c8:47:8c:00:03:01", dumpWith("bk7231n", "c8:47:8c:00:03:01", { entries: bl0937Plug })),
      sim("c8:47:8c:00:03:02", dumpWith("bk7231n", "c8:47:8c:00:03:02", { entries: tuyaMcuMeter9600 })),
      sim("c8:47:8c:00:03:03", dumpWith("bk7231n", "c8:47:8c:00:03:03", null)),
    ];
    const originals = sims.map((s) => s.flash.data.slice());
    try {
      const b = board();
      const results = await runBatch({
        ports: sims.map((s) => s.path),
        image: { name: "OpenBK7231N_UA_1.18.299.bin", data: fakeObkImage(0x40000) },
        backupDir: `${dir}/backups`,
        stateDir: `${dir}/state`,
        provision: provisioning({
          wifi: { ssid: "house", password: "pw" },
          mqtt: { host: "10.0.0.2" },
          profile: "from-backup",
        }),
        flasher: fastOptions({ linkTimeoutMs: 1500 }),
        clock: systemClock,
        log: quiet,
        board: b.board,
        benchHost: "bench-1",
      });
      b.board.finish();
      assertEquals(results.map((r) => r.ok), [true, true, false]);
      const plug = parseObkConfig(sims[0].flash.data.subarray(CFG_N, CFG_N + 4096));
      assertEquals(plug.pins, { 6: "BL0937CF1", 7: "BL0937CF", 8: "WifiLED_n", 10: "Btn", 24: "BL0937SEL", 26: "Rel" });
      assertEquals(plug.channels, { 10: 1, 26: 1 });
      assertEquals(plug.startupCommand, "backlog startDriver BL0937; startDriver NTP");
      const meter = parseObkConfig(sims[1].flash.data.subarray(CFG_N, CFG_N + 4096));
      assertEquals(meter.pins, {});
      assertStringIncludes(meter.startupCommand, "backlog startDriver TuyaMCU; tuyaMcu_defWiFiState 4;");
      assertStringIncludes(meter.startupCommand, "setChannelType 5 Voltage_div10; linkTuyaMCUOutputToChannel 20 val 5");
      // a unit whose backup holds no Tuya config is refused before anything is erased
      const none = results[2];
      assert(!none.ok);
      assertStringIncludes((none.error as Error).message, "no Tuya config found");
      assert(equalBytes(sims[2].flash.data, originals[2]));
    } finally {
      for (const s of sims) await s.stop();
    }
  });
});

Deno.test("stock-config check: the plug whose firmware and schema differ is named, and on hold is not erased", async () => {
  await withTempDir(async (dir) => {
    const odd = bl0937Plug.map((e) =>
      e.name === "gw_di"
        ? { ...e, value: gwDi({ pk: "keyjup78v54myhan", swv: "1.1.15", schemaId: "000004w0oh" }) }
        : e.name === "000004w0oh"
        ? { ...e, value: String(e.value).replace('"max":30000', '"max":20000') }
        : e
    );
    const macs = ["c8:47:8c:00:04:01", "c8:47:8c:00:04:02", "c8:47:8c:00:04:03"];
    const sims = [
      sim(macs[0], dumpWith("bk7231n", macs[0], { entries: bl0937Plug })),
      sim(macs[1], dumpWith("bk7231n", macs[1], { entries: odd })),
      sim(macs[2], dumpWith("bk7231n", macs[2], { entries: bl0937Plug })),
    ];
    const originals = sims.map((s) => s.flash.data.slice());
    try {
      const b = board();
      let check: StockCheckOutcome | undefined;
      const image = fakeObkImage(0x40000);
      const results = await runBatch({
        ports: sims.map((s) => s.path),
        image: { name: "OpenBK7231N_UA_1.18.299.bin", data: image },
        backupDir: `${dir}/backups`,
        stateDir: `${dir}/state`,
        flasher: fastOptions({ linkTimeoutMs: 1500 }),
        clock: systemClock,
        log: quiet,
        board: b.board,
        benchHost: "bench-1",
        stockCheck: "hold",
        onStockCheck: (o) => (check = o),
      });
      b.board.finish();
      assertEquals(results.map((r) => r.ok), [true, false, true]);
      assertEquals(check?.outliers.map((o) => o.id), [sims[1].path]);
      const differs = check!.outliers[0].differs.join("; ");
      assertStringIncludes(differs, "Wi-Fi firmware 1.1.15 (the other 2: 1.1.12)");
      assertStringIncludes(differs, "datapoint schema");
      assertStringIncludes((results[1] as { error: Error }).error.message, "not erased");
      assert(equalBytes(sims[1].flash.data, originals[1]), "the outlier keeps its stock firmware");
      assert(equalBytes(sims[0].flash.data.subarray(0x11000, 0x11000 + image.length), image));
      assertStringIncludes(b.text(), "OUTLIER");
    } finally {
      for (const s of sims) await s.stop();
    }
  });
});
