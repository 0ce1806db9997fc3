import { assertEquals, assertRejects } from "@std/assert";
import { Flasher } from "../../edge-agent/flash/flasher.ts";
import { FlashError } from "../../edge-agent/flash/errors.ts";
import { backupJob, planImage, writeJob } from "../../edge-agent/flash/jobs.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { equalBytes, fakeObkImage, fastOptions, withSim } from "./helpers.ts";

for (const chip of ["bk7231n", "bk7231t"] as const) {
  Deno.test(`flasher ${chip}: verified 2 MB backup, OpenBeken-sized write, reboot — on a real pty`, async () => {
    await withTempDir(async (dir) => {
      await withSim({ chip, mac: "c8:47:8c:aa:bb:cc" }, async (sim, port) => {
        const original = sim.flash.data.slice();
        const f = await Flasher.connect(port, fastOptions());
        assertEquals(f.info.chip, chip);
        assertEquals(f.info.bootloader, chip === "bk7231n" ? "BK7231N 1.0.1" : "BK7231S 1.0.5");
        assertEquals(f.info.baud, 2_000_000);
        if (chip === "bk7231n") {
          assertEquals(f.info.chipId, 0x7231c);
          assertEquals(f.info.flashId, 0x1560eb);
        } else assertEquals(f.info.bootVersion, "BK7231S_1.0.5");

        const b = await backupJob(f, `${dir}/backup.bin`);
        assertEquals(equalBytes(await Deno.readFile(`${dir}/backup.bin`), original), true);
        assertEquals(b.mac, "c8:47:8c:aa:bb:cc");
        assertEquals(b.chip, chip);

        const image = fakeObkImage();
        const plan = planImage(image, chip, { name: `OpenBK7231${chip.at(-1)!.toUpperCase()}_UA_1.18.299.bin` });
        assertEquals(plan.addr, 0x11000);
        await writeJob(f, plan, { stateDir: `${dir}/state` });
        assertEquals(equalBytes(sim.flash.data.subarray(0x11000, 0x11000 + image.length), image), true);
        // everything outside the written range is as it was (bootloader, TLV/MAC, config)
        assertEquals(equalBytes(sim.flash.data.subarray(0, 0x11000), original.subarray(0, 0x11000)), true);
        const end = 0x11000 + Math.ceil(image.length / 4096) * 4096;
        assertEquals(equalBytes(sim.flash.data.subarray(end), original.subarray(end)), true);
        assertEquals(sim.stats.bootloaderViolations, []);
        if (chip === "bk7231n") assertEquals(sim.flash.protected, false); // SR protect bits cleared
        await f.reboot();
        await new Promise((r) => setTimeout(r, 30));
        assertEquals(sim.mode === "window" || sim.mode === "app", true);
      });
    });
  });
}

Deno.test("flasher T: never touches 0x0–0x11000, whatever it is asked", async () => {
  await withSim({ chip: "bk7231t" }, async (sim, port) => {
    const before = sim.flash.data.slice();
    const f = await Flasher.connect(port, fastOptions({ chip: "bk7231t" }));
    const e1 = await assertRejects(() => f.writeRange(0x0, new Uint8Array(0x2000)), FlashError);
    assertEquals(e1.code, "REFUSED");
    const e2 = await assertRejects(() => f.writeRange(0x10000, new Uint8Array(0x2000)), FlashError);
    assertEquals(e2.code, "REFUSED");
    let e3: unknown;
    try {
      planImage(new Uint8Array(0x1000), "bk7231t", { addr: 0x1000 });
    } catch (e) {
      e3 = e;
    }
    assertEquals((e3 as FlashError).code, "REFUSED");
    // a full-flash (QIO / backup) image on T is written from 0x11000 only
    const full = planImage(new Uint8Array(0x200000), "bk7231t", { name: "OpenBK7231T_QIO_1.0.bin" });
    assertEquals(full.addr, 0x11000);
    assertEquals(full.data.length, 0x200000 - 0x11000);
    assertEquals(sim.stats.bootloaderViolations, []);
    assertEquals(sim.stats.erases + sim.stats.writes, 0);
    assertEquals(equalBytes(sim.flash.data, before), true);
  });
});

Deno.test("flasher: --chip that disagrees with the bootloader stops before touching the unit", async () => {
  await withSim({ chip: "bk7231n" }, async (sim, port) => {
    const e = await assertRejects(() => Flasher.connect(port, fastOptions({ chip: "bk7231t" })), FlashError);
    assertEquals(e.code, "CHIP_MISMATCH");
    assertEquals(sim.stats.erases + sim.stats.writes, 0);
  });
});

Deno.test("flasher N: 1-byte status register flash (EN25QH16B, SR 0x5C) is unprotected before writing", async () => {
  await withSim({ chip: "bk7231n", flashId: 0x15701c }, async (sim, port) => {
    const f = await Flasher.connect(port, fastOptions());
    assertEquals(f.info.flashId, 0x15701c);
    const data = fakeObkImage(0x3000);
    await f.writeRange(0x100000, data);
    assertEquals(sim.flash.sr & 0x7c, 0); // BP bits cleared (BKT mask for 1-byte SR parts)
    assertEquals(equalBytes(sim.flash.data.subarray(0x100000, 0x103000), data), true);
  });
});

Deno.test("flasher: ranged reads, including the BK7231T bootloader through the +2 MiB alias", async () => {
  await withTempDir(async (dir) => {
    await withSim({ chip: "bk7231t" }, async (sim, port) => {
      const f = await Flasher.connect(port, fastOptions());
      await backupJob(f, `${dir}/boot.bin`, { start: 0, length: 0x11000 });
      assertEquals(equalBytes(await Deno.readFile(`${dir}/boot.bin`), sim.flash.data.subarray(0, 0x11000)), true);
      const r = await backupJob(f, `${dir}/tlv.bin`, { start: 0x1e0000, length: 0x2000 });
      assertEquals(
        equalBytes(await Deno.readFile(`${dir}/tlv.bin`), sim.flash.data.subarray(0x1e0000, 0x1e2000)),
        true,
      );
      assertEquals(r.size, 0x2000);
      await assertRejects(() => backupJob(f, `${dir}/x.bin`, { start: 0x100, length: 0x1000 }), FlashError);
    });
  });
});
