// The simulator is checked against the reference's wire vectors with raw bytes,
// not through the client codec (../shared/reference/bk7231-bootloader.md §2.4–§3.7).
import { assertEquals } from "@std/assert";
import { openSerial, type SerialPort } from "../../edge-agent/serial/mod.ts";
import { Bk7231Sim, type Bk7231SimOptions } from "../../edge-agent/sim/bk7231.ts";

const hex = (s: string) => new Uint8Array(s.trim().split(/\s+/).map((h) => parseInt(h, 16)));
const show = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(" ");

async function withSim(opts: Bk7231SimOptions, fn: (sim: Bk7231Sim, port: SerialPort) => Promise<void>) {
  const sim = Bk7231Sim.start(opts);
  const port = await openSerial(sim.path, { baud: 115200 });
  try {
    await fn(sim, port);
  } finally {
    await port.close();
    await sim.stop();
  }
}

/** Send a request, return exactly `n` reply bytes (or fewer on timeout). */
async function ask(port: SerialPort, req: string, n: number, timeoutMs = 1000) {
  await port.write(hex(req));
  try {
    return show(await port.read(n, timeoutMs));
  } catch (e) {
    return show((e as { partial?: Uint8Array }).partial ?? new Uint8Array());
  }
}

Deno.test("sim N: link, chip id, MID (LEN 6 quirk), SR, fingerprint CRC — exact wire bytes", async () => {
  await withSim({ chip: "bk7231n" }, async (_sim, port) => {
    assertEquals(await ask(port, "01 E0 FC 01 00", 8), "04 0E 05 01 E0 FC 01 00");
    assertEquals(await ask(port, "01 E0 FC 05 03 00 00 80 00", 15), "04 0E 0C 01 E0 FC 03 00 00 80 00 1C 23 07 00");
    assertEquals(
      await ask(port, "01 E0 FC FF F4 05 00 0E 9F 00 00 00", 15),
      "04 0E FF 01 E0 FC F4 06 00 0E 00 00 EB 60 15",
    );
    assertEquals(await ask(port, "01 E0 FC FF F4 02 00 0C 05", 13), "04 0E FF 01 E0 FC F4 04 00 0C 00 05 04");
    assertEquals(await ask(port, "01 E0 FC FF F4 02 00 0C 35", 13), "04 0E FF 01 E0 FC F4 04 00 0C 00 35 40");
    // CheckCRC(0, 0x100): BK7231N 1.0.1 fingerprint 0x1EBE6E45 (§3.5)
    assertEquals(await ask(port, "01 E0 FC 09 10 00 00 00 00 00 01 00 00", 11), "04 0E 08 01 E0 FC 10 45 6E BE 1E");
    // T-only command: the ROM stays silent
    assertEquals(await ask(port, "01 E0 FC 01 11", 1, 100), "");
  });
});

Deno.test("sim N: status-register protection makes erase silently do nothing until cleared", async () => {
  await withSim({ chip: "bk7231n" }, async (sim, port) => {
    await ask(port, "01 E0 FC 01 00", 8);
    const before = sim.flash.read(0x11000, 16);
    assertEquals(
      await ask(port, "01 E0 FC FF F4 06 00 0F 20 00 10 01 00", 16),
      "04 0E FF 01 E0 FC F4 07 00 0F 00 20 00 10 01 00",
    );
    assertEquals(sim.flash.read(0x11000, 16), before); // protected: "OK" but nothing erased
    assertEquals(await ask(port, "01 E0 FC FF F4 04 00 0D 01 00 00", 14), "04 0E FF 01 E0 FC F4 05 00 0D 00 01 00 00");
    await ask(port, "01 E0 FC FF F4 06 00 0F 20 00 10 01 00", 16);
    assertEquals(sim.flash.read(0x11000, 16), new Uint8Array(16).fill(0xff));
    // erased sector CRC, end inclusive on N: 0x0EAB98F5
    assertEquals(await ask(port, "01 E0 FC 09 10 00 10 01 00 FF 1F 01 00", 11), "04 0E 08 01 E0 FC 10 F5 98 AB 0E");
  });
});

Deno.test("sim N: baud switch echoes at the new rate after the delay", async () => {
  await withSim({ chip: "bk7231n", faults: { strayLinkReplyOnBaud: true } }, async (_sim, port) => {
    await ask(port, "01 E0 FC 01 00", 8);
    await port.write(hex("01 E0 FC 06 0F 00 10 0E 00 14"));
    await port.drain();
    await new Promise((r) => setTimeout(r, 10));
    port.setBaud(921600);
    assertEquals(show(await port.read(20, 1000)), "04 0E 05 01 E0 FC 01 00 04 0E 09 01 E0 FC 0F 00 10 0E 00 14");
    // both at 921600 now
    await port.write(hex("01 E0 FC 01 00"));
    assertEquals(show(await port.read(8, 1000)), "04 0E 05 01 E0 FC 01 00");
    port.setBaud(115200);
    await port.write(hex("01 E0 FC 01 00"));
    await new Promise((r) => setTimeout(r, 50));
    assertEquals((await port.readSome(50)).length, 0); // chip did not understand 115200 bytes
  });
});

Deno.test("sim T: read protection, alias, exclusive CRC end, boot version, CRC re-protect quirk", async () => {
  await withSim({ chip: "bk7231t" }, async (sim, port) => {
    assertEquals(await ask(port, "01 E0 FC 01 00", 8), "04 0E 05 01 E0 FC 01 00");
    // refused read of the bootloader: status 6, one byte (ltchiptool#34)
    assertEquals(await ask(port, "01 E0 FC FF F4 05 00 09 00 00 00 00", 12), "04 0E FF 01 E0 FC F4 03 00 09 06 00");
    // aliased read at 0x200000 works (BK7231GUIFlashTool#19 header)
    const head = await ask(port, "01 E0 FC FF F4 05 00 09 00 00 20 00", 4111);
    assertEquals(head.slice(0, 44), "04 0E FF 01 E0 FC F4 06 10 09 00 00 00 20 00");
    // fingerprint, end exclusive: BK7231S 1.0.5 = 0x45AB3E47 (ltchiptool#45)
    assertEquals(await ask(port, "01 E0 FC 09 10 00 00 00 00 00 01 00 00", 11), "04 0E 08 01 E0 FC 10 47 3E AB 45");
    const ver = await ask(port, "01 E0 FC 01 11", 23);
    assertEquals(ver.slice(0, 20), "04 0E 14 01 E0 FC 11");
    assertEquals(await ask(port, "01 E0 FC 05 03 00 00 80 00", 1, 100), ""); // no ReadReg on T
    // after CheckCRC an erase silently fails...
    await ask(port, "01 E0 FC 09 10 00 10 01 00 00 20 01 00", 11);
    const before = sim.flash.read(0x11000, 8);
    await ask(port, "01 E0 FC FF F4 06 00 0F 20 00 10 01 00", 16);
    assertEquals(sim.flash.read(0x11000, 8), before);
    // ...until a link check marks the lock, then the erase unprotects and works
    await ask(port, "01 E0 FC 01 00", 8);
    await ask(port, "01 E0 FC FF F4 06 00 0F 20 00 10 01 00", 16);
    assertEquals(sim.flash.read(0x11000, 8), new Uint8Array(8).fill(0xff));
    assertEquals(await ask(port, "01 E0 FC 09 10 00 10 01 00 00 20 01 00", 11), "04 0E 08 01 E0 FC 10 F5 98 AB 0E");
    assertEquals(sim.stats.bootloaderViolations, []);
    await ask(port, "01 E0 FC FF F4 06 00 0F 20 00 00 20 00", 16); // aliased erase of 0x0: recorded
    assertEquals(sim.stats.bootloaderViolations, [0x200000]);
  });
});

Deno.test("sim: reset window closes; OpenBeken app reboots on `reboot\\r\\n`; blocked UART never answers", async () => {
  // the simulator shares the test's event loop: a window wide enough that a stalled CI machine still gets a link check in
  await withSim({ chip: "bk7231n", timing: { resetWindowMs: 600 } }, async (sim, port) => {
    await new Promise((r) => setTimeout(r, 900));
    await port.write(hex("01 E0 FC 01 00"));
    assertEquals((await port.readSome(60)).length, 0);
    assertEquals(sim.mode, "app");
    const resets = sim.stats.resets;
    await port.write(new TextEncoder().encode("reboot\r\n"));
    // like a real flasher: keep sending link checks until the rebooted chip's loader answers one
    let reply: Uint8Array = new Uint8Array();
    for (let i = 0; i < 50 && reply.length === 0; i++) {
      await port.write(hex("01 E0 FC 01 00"));
      reply = await port.readSome(10);
    }
    const rest = await port.read(8 - reply.length, 1000).catch(() => new Uint8Array());
    assertEquals(show(new Uint8Array([...reply, ...rest])), "04 0E 05 01 E0 FC 01 00");
    assertEquals(sim.stats.resets, resets + 1);
    assertEquals(sim.mode, "download");
  });
  await withSim({ chip: "bk7231n", faults: { blockedUart: true } }, async (_sim, port) => {
    assertEquals(await ask(port, "01 E0 FC 01 00", 8, 100), "");
  });
});
