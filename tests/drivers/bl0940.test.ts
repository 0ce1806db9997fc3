/**
 * BL0940, the chip added through the registry: codec against packets captured from a real
 * BL0940 (the four in the comments of Tasmota's tasmota/tasmota_xnrg_energy/xnrg_14_bl09xx.ino,
 * with the values Tasmota printed for the last one), the device simulator against the codec,
 * and the driver on a pty.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  BL0940_DEFAULTS,
  bl0940Checksum,
  Bl0940Parser,
  bl0940Temperature,
  bl0940Values,
  bl0940WhPerCount,
  decodeBl0940Packet,
} from "../../shared/meterchips/bl0940.ts";
import { CodecError } from "../../shared/errors.ts";
import { fromHex } from "../../shared/tuyamcu/mod.ts";
import { parseProfile } from "../../shared/profiles/mod.ts";
import { ChipPoller } from "../../edge-agent/drivers/chip.ts";
import { pollerForProfile } from "../../edge-agent/drivers/from_profile.ts";
import { BL0940_BOARD_SCALE, Bl0940Sim } from "../../edge-agent/sim/bl0940.ts";
import { PhysicalMeter } from "../../edge-agent/sim/physics.ts";
import { Collector } from "./helpers.ts";

/** Captured from a BL0940 (single channel), as Tasmota's source lists them. */
const captured = [
  "55 F2 03 00 00 00 00 7E 02 00 D4 B0 72 AC 01 00 00 00 00 02 01 00 00 00 00 00 00 00 BA 01 00 FE 03 00 83",
  "55 88 02 00 49 00 00 FE 02 00 AF EF 71 D2 01 00 EB FF FF 49 01 00 00 00 00 02 00 00 CF 01 00 FE 03 00 9F",
  "55 B9 33 00 DE 45 00 94 02 00 CF E4 70 63 02 00 6C 4C 00 13 01 00 09 00 00 00 00 00 E4 01 00 FE 03 00 72",
  "55 B8 55 00 2F 73 00 D2 02 00 00 C6 74 F9 01 00 97 89 00 37 01 00 AB 00 00 2D 00 00 02 02 00 FE 03 00 6E",
].map(fromHex);

Deno.test("BL0940: captured packets decode to Tasmota's figures (U 7652864, I 29487, P 35223, C 171, T 514)", () => {
  for (const b of captured) assertEquals(bl0940Checksum(b), b[34]); // ~(0x50 + sum), so 0x50 is the read command
  const p = decodeBl0940Packet(captured[3]);
  assertEquals([p.voltageRaw, p.currentRaw, p.powerRaw, p.cfCount, p.tps1], [7652864, 29487, 35223, 171, 514]);
  assertEquals(p.tps2, 0x03fe);
  // WATT is two's complement: EB FF FF is a small negative reading at no load
  assertEquals(decodeBl0940Packet(captured[1]).powerRaw, -21);
  // with the default (Tasmota) factors: a ~25 W load on ~232 V, PF ≈ 1, die at ~40 °C
  const v = bl0940Values(p);
  assertAlmostEquals(v.voltage, 231.905, 0.001);
  assertAlmostEquals(v.current, 0.10723, 0.00001);
  assertAlmostEquals(v.power, 24.631, 0.001);
  assert(Math.abs(v.power / (v.voltage * v.current) - 1) < 0.01, "P ≈ V·I for this resistive load");
  assertAlmostEquals(bl0940Temperature(514), 40.38, 0.01);
  // one CF count = 1638.4 × 256 J at 1430 counts/W: ~0.0815 Wh (ESPHome measured 297 J ≈ 0.0825 Wh)
  assertAlmostEquals(bl0940WhPerCount(BL0940_DEFAULTS.power), 0.081474, 0.000001);
});

Deno.test("BL0940: a wrong checksum, header or length is a CodecError, never a reading", () => {
  const code = (b: Uint8Array) => assertThrows(() => decodeBl0940Packet(b), CodecError).code;
  for (const [k, b] of captured.entries()) {
    const bad = b.slice();
    bad[5 + k] ^= 0x01; // one flipped bit anywhere in the data
    assertEquals(code(bad), "bad_checksum");
  }
  const datasheetHeader = captured[0].slice();
  datasheetHeader[0] = 0x58; // what the English datasheet says; not what chips send
  assertEquals(code(datasheetHeader), "bad_header");
  assertEquals(code(captured[0].subarray(0, 23)), "bad_length"); // a BL0942-sized packet
});

Deno.test("BL0940 stream: noise, a corrupt packet and a cut-off tail cost nothing that follows", () => {
  const corrupt = captured[2].slice();
  corrupt[12] ^= 0x40;
  const stream = Uint8Array.from([
    0x00,
    0x13,
    ...captured[0],
    ...corrupt,
    ...captured[1],
    0x55, // a header inside noise
    0x99,
    ...captured[3],
    ...captured[3].subarray(0, 10),
  ]);
  const parser = new Bl0940Parser();
  const events = [...parser.push(stream.subarray(0, 40)), ...parser.push(stream.subarray(40)), ...parser.flush()];
  const packets = events.filter((e) => e.kind === "packet");
  assertEquals(packets.length, 3);
  assertEquals(packets.map((e) => e.kind === "packet" && e.packet.voltageRaw), [7516372, 7466927, 7652864]);
  const errors = events.flatMap((e) => e.kind === "error" ? [e.error.code] : []);
  assert(errors.includes("bad_checksum"), errors.join());
  assertEquals(errors.at(-1), "truncated");
});

Deno.test("BL0940 simulator: its packets (built from the datasheet) decode with the codec to the physical truth", async () => {
  const meter = new PhysicalMeter({ loadW: 1000, voltage: 230 });
  const sim = new Bl0940Sim(meter);
  sim.temperatureC = 52;
  const p = decodeBl0940Packet(sim.packet());
  const v = bl0940Values(p, BL0940_BOARD_SCALE);
  assertAlmostEquals(v.voltage, 230, 0.001);
  assertAlmostEquals(v.current, 1000 / 230, 0.0001);
  assertAlmostEquals(v.power, 1000, 0.01);
  assertAlmostEquals(v.temperature, 52, 0.5);
  // the board's datasheet scale and Tasmota's defaults agree within a few per cent (an uncalibrated plug)
  for (const q of ["voltage", "current", "power"] as const) {
    assert(Math.abs(BL0940_BOARD_SCALE[q] / BL0940_DEFAULTS[q] - 1) < 0.035, q);
  }
  await sim.stop();
});

/** A BL0940 plug as a profile file would describe it: the schema takes the chip from the registry. */
const bl0940Plug = (pollMs = 60) =>
  parseProfile({
    id: "bl0940-plug-test",
    model: "Test plug with a BL0940 on the UART",
    module: "BK7231N",
    transport: { kind: "chip", chip: "BL0940", baud: 4800, parity: "none", pollMs },
    gpio: {},
    autoexec: "// OpenBeken has no BL0940 driver: the agent reads the chip on the bench\n",
  });

async function withBl0940(sim: Bl0940Sim, fn: (p: ChipPoller, c: Collector) => Promise<void>) {
  sim.start();
  const p = pollerForProfile(bl0940Plug(), { port: sim.path, deviceId: "bl0940-1", reopenMs: 50 }) as ChipPoller;
  const c = new Collector();
  try {
    p.start(c);
    await fn(p, c);
  } finally {
    await p.stop();
    await sim.stop();
  }
}

Deno.test("BL0940 driver on a pty: V/I/P, energy across the 24-bit CF_CNT wrap, then calibrated factors", async () => {
  const meter = new PhysicalMeter({ loadW: 3000, energyWh: 0 });
  const sim = new Bl0940Sim(meter, undefined, { cfStart: 0xffffff - 3 });
  await withBl0940(sim, async (p, c) => {
    // 3 kW is ~10 counts/s: the first readings cross the wrap
    await c.until(() => c.readings.length >= 2 && c.last!.energyWh > 0.5, "energy across the wrap");
    const r = c.last!;
    assert(r.energyWh < 50, `energy must not jump by a wrap: ${r.energyWh}`);
    // default factors (Tasmota's) are within a few per cent of this board's datasheet scale
    assert(Math.abs(r.voltage / 230 - 1) < 0.035 && Math.abs(r.power / 3000 - 1) < 0.035, JSON.stringify(r));
    assertEquals(r.frequency, undefined); // the BL0940 packet carries no line frequency
    p.setFactors(BL0940_BOARD_SCALE);
    const n = c.readings.length;
    await c.until(() => c.readings.length > n, "a reading with the board's factors");
    assertAlmostEquals(c.last!.voltage, 230, 0.01);
    assertAlmostEquals(c.last!.current, 3000 / 230, 0.001);
    assertAlmostEquals(c.last!.power, 3000, 0.5);
    const e0 = c.last!.energyWh;
    await c.until(() => c.last!.energyWh > e0 + 1, "energy keeps counting");
  });
});

Deno.test("BL0940 driver: bad checksums are events, silence is an event, and it recovers", async () => {
  const sim = new Bl0940Sim(new PhysicalMeter({ loadW: 60 }));
  await withBl0940(sim, async (_p, c) => {
    await c.until(() => c.readings.length >= 1, "first reading");
    sim.faults.badChecksums = 2;
    sim.faults.noisyReplies = 2;
    await c.until(() => c.events.some((e) => e.code === "checksum"), "checksum event");
    const n = c.readings.length;
    await c.until(() => c.readings.length >= n + 3, "readings after the faults");
    sim.faults.silent = true;
    await c.until(() => c.events.some((e) => e.code === "no_reply"), "silence is an event, not a crash");
    assert(c.events.find((e) => e.code === "no_reply")!.message.includes("BL0940"));
    sim.faults.silent = false;
    const m = c.readings.length;
    await c.until(() => c.readings.length > m, "recovers after silence");
  });
});
