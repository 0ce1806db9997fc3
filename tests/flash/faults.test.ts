// Every fault the simulator can inject ends in a verified result, or in a clear
// error with the unit untouched or the job resumable.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { Flasher } from "../../edge-agent/flash/flasher.ts";
import { FlashError } from "../../edge-agent/flash/errors.ts";
import { diagnose } from "../../edge-agent/flash/bus.ts";
import { backupJob, planImage, writeJob } from "../../edge-agent/flash/jobs.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { equalBytes, fakeObkImage, fastOptions, quiet, withSim } from "./helpers.ts";

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("fault: dropped and corrupted bytes while reading → retried, backup verified", async () => {
  await withTempDir(async (dir) => {
    await withSim({
      chip: "bk7231n",
      faults: { dropReadByteAt: [0x3000, 0x1d0000], corruptReadAt: [0x11000, 0x150000, 0x1ff000] },
    }, async (sim, port) => {
      const f = await Flasher.connect(port, fastOptions());
      await backupJob(f, `${dir}/b.bin`);
      assert(equalBytes(await Deno.readFile(`${dir}/b.bin`), sim.flash.data));
      assertEquals(sim.faults.corruptReadAt, []); // every fault actually fired
      assertEquals(sim.faults.dropReadByteAt, []);
    });
  });
});

Deno.test("fault: corrupted bytes on the way to the chip while writing → block re-erased and rewritten, verified", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231t", faults: { corruptWriteAt: [0x12000, 0x40000] } }, async (sim, port) => {
      const f = await Flasher.connect(port, fastOptions());
      const image = fakeObkImage(0x60000);
      await writeJob(f, planImage(image, "bk7231t"), { stateDir: dir });
      assert(equalBytes(sim.flash.data.subarray(0x11000, 0x11000 + image.length), image));
      assertEquals(sim.faults.corruptWriteAt, []);
      assertEquals(sim.stats.bootloaderViolations, []);
    });
  });
});

Deno.test("fault: the chip stalls mid-backup for longer than a command timeout → retries carry on, verified", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231t", faults: { stallAfterCommands: 150, stallMs: 600 } }, async (sim, port) => {
      // the stall is four command timeouts long
      const f = await Flasher.connect(port, fastOptions({ commandTimeoutMs: 150 }));
      await backupJob(f, `${dir}/b.bin`);
      assert(equalBytes(await Deno.readFile(`${dir}/b.bin`), sim.flash.data));
    });
  });
});

Deno.test("fault: power lost mid-write → LINK_LOST (resumable); after power returns the same job resumes and verifies", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231n", faults: { powerLossAtWrite: 120 } }, async (sim, port) => {
      const image = fakeObkImage();
      const plan = planImage(image, "bk7231n");
      const f = await Flasher.connect(port, fastOptions());
      const err = await assertRejects(() => writeJob(f, plan, { stateDir: dir, jobName: "p1" }), FlashError);
      assertEquals(err.code, "LINK_LOST");
      assertEquals(err.resumable, true);
      assertEquals(sim.mode, "off");
      const journal = JSON.parse(await Deno.readTextFile(`${dir}/write-p1.json`));
      const doneBefore = Object.keys(journal.done).length;
      assert(doneBefore >= 5, `journal should hold the verified blocks, has ${doneBefore}`);

      // power comes back; the operator runs the same command again
      sim.faults.powerLossAtWrite = undefined;
      const f2 = await Flasher.connect(port, fastOptions({ onNeedReset: () => sim.reset() }));
      const r = await writeJob(f2, plan, { stateDir: dir, jobName: "p1" });
      assertEquals(r.resumedBlocks, doneBefore);
      assert(equalBytes(sim.flash.data.subarray(0x11000, 0x11000 + image.length), image));
      assertEquals(await exists(`${dir}/write-p1.json`), false); // finished jobs leave no journal
    });
  });
});

Deno.test("fault: interrupted backup resumes from its journal; nothing appears under the final name until verified", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231t", faults: { stallAfterCommands: 400, stallMs: 60_000 } }, async (sim, port) => {
      const f = await Flasher.connect(port, fastOptions({ retries: { read: 2 } }));
      const err = await assertRejects(() => backupJob(f, `${dir}/b.bin`), FlashError);
      assertEquals(err.code, "LINK_LOST");
      assertEquals(await exists(`${dir}/b.bin`), false); // a failed backup is never presented as good
      assert(await exists(`${dir}/b.bin.partial`));
      // the unit is reset (power cycle) and the command run again
      sim.reset();
      const f2 = await Flasher.connect(port, fastOptions());
      const r = await backupJob(f2, `${dir}/b.bin`);
      assert(r.resumedChunks > 0, "chunks verified before the interruption are reused");
      assert(equalBytes(await Deno.readFile(`${dir}/b.bin`), sim.flash.data));
      assertEquals(await exists(`${dir}/b.bin.partial`), false);
    });
  });
});

Deno.test("fault: resuming against a different unit re-reads everything (journal chunks are re-checked by chip CRC)", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231t", faults: { stallAfterCommands: 300, stallMs: 60_000 } }, async (_sim, port) => {
      const f = await Flasher.connect(port, fastOptions({ retries: { read: 2 } }));
      await assertRejects(() => backupJob(f, `${dir}/b.bin`), FlashError);
    });
    await withSim({ chip: "bk7231t", mac: "c8:47:8c:99:99:99" }, async (sim, port) => {
      const f = await Flasher.connect(port, fastOptions());
      const r = await backupJob(f, `${dir}/b.bin`);
      // TLV sector differs, so at least that chunk was re-read; the file matches the new unit
      assert(r.resumedChunks < 64);
      assertEquals(r.mac, "c8:47:8c:99:99:99");
      assert(equalBytes(await Deno.readFile(`${dir}/b.bin`), sim.flash.data));
    });
  });
});

Deno.test("fault: blocked UART (RN8209C on the lines) → NO_BUS with guidance, unit untouched", async () => {
  await withSim({ chip: "bk7231n", faults: { blockedUart: true } }, async (sim, port) => {
    let asked = "";
    const err = await assertRejects(
      () => Flasher.connect(port, fastOptions({ linkTimeoutMs: 1500, onNeedReset: (m) => (asked = m) })),
      FlashError,
    );
    assertEquals(err.code, "NO_BUS");
    assertStringIncludes(err.message, "Cannot get bus");
    const text = err.guidance.join("\n");
    for (const hint of ["RN8209C", "TuyaMCU", "TX/RX", "UART1", "3.3 V", "CEN"]) assertStringIncludes(text, hint);
    assertStringIncludes(asked, "CEN");
    assertEquals(sim.stats.commands, 0);
  });
});

Deno.test("fault: a TuyaMCU heartbeating on UART1 with the loader unreachable → NO_BUS naming the TuyaMCU first", async () => {
  const heartbeat = new Uint8Array([0x55, 0xaa, 0x03, 0x00, 0x00, 0x01, 0x00, 0x03]);
  await withSim({ chip: "bk7231n", faults: { blockedUart: true, chatter: heartbeat } }, async (sim, port) => {
    const err = await assertRejects(() => Flasher.connect(port, fastOptions({ linkTimeoutMs: 1500 })), FlashError);
    assertEquals(err.code, "NO_BUS");
    assertStringIncludes(err.guidance[0], "TuyaMCU frames (55 AA)");
    assertEquals(sim.stats.commands, 0);
  });
});

Deno.test("fault: adapter cannot do 2 Mbaud → falls back (after a reset) to a rate that works, backup verified", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231n", faults: { maxBaud: 921_600, strayLinkReplyOnBaud: true } }, async (sim, port) => {
      const f = await Flasher.connect(port, fastOptions({ onNeedReset: () => sim.reset() }));
      // the highest rate that works here; a loaded machine may make a switch fail and fall further, still verified
      assert(f.info.baud <= 921_600 && f.info.baud > 115_200, `fell back to ${f.info.baud}`);
      await backupJob(f, `${dir}/b.bin`);
      assert(equalBytes(await Deno.readFile(`${dir}/b.bin`), sim.flash.data));
    });
  });
});

Deno.test("fault: a stock Tuya unit (no reboot command) links once someone resets it", async () => {
  await withSim({ chip: "bk7231t", firmware: "tuya", poweredOn: false }, async (sim, port) => {
    const f = await Flasher.connect(port, fastOptions({ onNeedReset: () => setTimeout(() => sim.reset(), 50) }));
    assertEquals(f.info.chip, "bk7231t");
  });
});

Deno.test("fault: adapter unplugged mid-backup → GONE, resumable", async () => {
  await withTempDir(async (dir) => {
    const { Bk7231Sim } = await import("../../edge-agent/sim/bk7231.ts");
    const { openSerial } = await import("../../edge-agent/serial/mod.ts");
    const sim = Bk7231Sim.start({ chip: "bk7231n", log: quiet, timing: { resetWindowMs: 1500 } });
    const port = await openSerial(sim.path);
    try {
      const f = await Flasher.connect(port, fastOptions());
      let pulled = false;
      const err = await assertRejects(() =>
        backupJob(f, `${dir}/b.bin`, {
          onProgress: (p) => {
            if (!pulled && p.done > 0x40000) {
              pulled = true;
              sim.stop(); // the pty master closes: like yanking the USB adapter
            }
          },
        }), FlashError);
      assertEquals(err.code, "GONE");
      assertEquals(err.resumable, true);
      assertEquals(await exists(`${dir}/b.bin`), false);
    } finally {
      await port.close();
      await sim.stop();
    }
  });
});

Deno.test("bus diagnosis reads the line: loopback, TuyaMCU frames, log text, silence", () => {
  assertStringIncludes(diagnose(new Uint8Array([1, 0xe0, 0xfc, 1, 0]))[0], "RX and TX");
  assertStringIncludes(diagnose(new Uint8Array([0x55, 0xaa, 0, 0, 0, 0, 0xff]))[0], "TuyaMCU");
  assertStringIncludes(diagnose(new TextEncoder().encode("[I] bk_wlan: connecting\r\n"))[0], "log UART");
  assertStringIncludes(diagnose(new Uint8Array())[0], "Nothing at all");
});
