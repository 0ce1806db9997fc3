import { assertEquals, assertRejects } from "@std/assert";
import { openPty, openSerial, SerialError } from "../../edge-agent/serial/mod.ts";

Deno.test("serial: bytes both ways over a real pty, raw (no echo, no CR mapping, 0x11/0x13 intact)", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath, { baud: 115200 });
  try {
    const all = new Uint8Array(256).map((_, i) => i);
    await port.write(all);
    assertEquals(await pty.masterPort.read(256, 2000), all);
    await pty.masterPort.write(all);
    assertEquals(await port.read(256, 2000), all);
    // nothing echoed back to the device side
    assertEquals((await pty.masterPort.readSome(20)).length, 0);
  } finally {
    await port.close();
    await pty.close();
  }
});

Deno.test("serial: large transfer in both directions at once (kernel buffer back-pressure)", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath, { baud: 2_000_000 });
  try {
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const [, got] = await Promise.all([port.write(big), pty.masterPort.read(big.length, 10_000)]);
    assertEquals(got, big);
  } finally {
    await port.close();
    await pty.close();
  }
});

Deno.test("serial: read timeout returns partial bytes; readSome returns empty", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath);
  try {
    assertEquals((await port.readSome(10)).length, 0);
    await pty.masterPort.write(new Uint8Array([1, 2, 3]));
    const err = await assertRejects(() => port.read(5, 50), SerialError);
    assertEquals(err.code, "TIMEOUT");
    assertEquals([...err.partial!], [1, 2, 3]);
  } finally {
    await port.close();
    await pty.close();
  }
});

Deno.test("serial: baud changes on an open port are visible to the device side, any rate", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath, { baud: 115200 });
  try {
    assertEquals(pty.hostBaud(), 115200);
    for (const b of [921600, 1_500_000, 2_000_000, 3_000_000, 250_000]) {
      port.setBaud(b);
      assertEquals(port.baud, b);
      assertEquals(pty.hostBaud(), b);
    }
  } finally {
    await port.close();
    await pty.close();
  }
});

Deno.test("serial: flush drops unread input", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath);
  try {
    await pty.masterPort.write(new Uint8Array([9, 9, 9]));
    await port.readSome(100).then((b) => port.unread(b));
    port.flush();
    await pty.masterPort.write(new Uint8Array([7]));
    assertEquals([...await port.read(1, 1000)], [7]);
  } finally {
    await port.close();
    await pty.close();
  }
});

Deno.test("serial: DTR/RTS on a pty is a clear NO_MODEM_LINES error", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath); // open itself tolerates the missing lines
  try {
    let code = "";
    try {
      port.setRts(true);
    } catch (e) {
      code = (e as SerialError).code;
    }
    assertEquals(code, "NO_MODEM_LINES");
  } finally {
    await port.close();
    await pty.close();
  }
});

Deno.test("serial: unplugged adapter (other end gone) fails a pending read with GONE, not a hang", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath);
  try {
    const pending = port.read(10, 30_000);
    await new Promise((r) => setTimeout(r, 30));
    await pty.close();
    const err = await assertRejects(() => pending, SerialError);
    assertEquals(err.code, "GONE");
  } finally {
    await port.close();
  }
});

Deno.test("serial: missing device path is NOT_FOUND", async () => {
  const err = await assertRejects(() => openSerial("/dev/ttyDOESNOTEXIST9"), SerialError);
  assertEquals(err.code, "NOT_FOUND");
});

Deno.test("serial: close while a read is pending resolves promptly", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath);
  const pending = port.readSome(60_000);
  await new Promise((r) => setTimeout(r, 20));
  await port.close();
  assertEquals((await pending).length, 0);
  await pty.close();
});

Deno.test("serial: one port reading and writing at the same time, then closed cleanly", async () => {
  const pty = openPty();
  const port = await openSerial(pty.slavePath);
  try {
    const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
    const echoBack = (async () => {
      let n = 0;
      while (n < big.length) {
        const got = await pty.masterPort.readSome(2000);
        if (got.length === 0) break;
        n += got.length;
        await pty.masterPort.write(got);
      }
    })();
    const [, back] = await Promise.all([port.write(big), port.read(big.length, 10_000)]);
    await echoBack;
    assertEquals(back, big);
  } finally {
    await port.close();
    await pty.close();
  }
});
