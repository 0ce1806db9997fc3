import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  BL0942_DEFAULTS,
  Bl0942Parser,
  bl0942Values,
  bl6552,
  calibrate,
  computeFactor,
  Cse7766Parser,
  cse7766Raw,
  decodeBl0942Packet,
  decodeCse7766Packet,
  decodeRegisterResponse,
  ht7017,
  parseRegisterCapture,
  rn8209,
  RN8209_DEFAULTS,
} from "../../shared/meterchips/mod.ts";
import { CodecError } from "../../shared/errors.ts";
import { fromHex } from "../../shared/tuyamcu/mod.ts";
import { rn8209Voltage } from "./seed_vectors.ts";

const le24 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff];
const be24 = (v: number) => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];

/** Built by hand from the §5.3 table (not by any encoder under test). */
function bl0942Packet(i: number, v: number, p: number, cf: number, freq = 20000): Uint8Array {
  const b = [
    0x55,
    ...le24(i),
    ...le24(v),
    ...le24(i),
    ...le24(p & 0xffffff),
    ...le24(cf),
    freq & 0xff,
    freq >> 8,
    0,
    0,
    0,
    0,
  ];
  let s = 0x58;
  for (const x of b) s += x;
  return Uint8Array.from([...b, ~s & 0xff]);
}

function csePacket(
  head: number,
  vpar: number,
  vcyc: number,
  ipar: number,
  icyc: number,
  ppar: number,
  pcyc: number,
): Uint8Array {
  const b = [
    head,
    0x5a,
    ...be24(vpar),
    ...be24(vcyc),
    ...be24(ipar),
    ...be24(icyc),
    ...be24(ppar),
    ...be24(pcyc),
    0x70,
    0x00,
    0x10,
  ];
  let s = 0;
  for (let k = 2; k < b.length; k++) s += b[k];
  return Uint8Array.from([...b, s & 0xff]);
}

Deno.test("BL0942: the reference's worked example reads 230 V / 0.260 A / 60 W / 50 Hz", () => {
  const p = decodeBl0942Packet(bl0942Packet(65314, 3493240, 35880, 1234));
  const v = bl0942Values(p);
  assertAlmostEquals(v.voltage, 230, 0.01);
  assertAlmostEquals(v.current, 0.26, 0.001);
  assertAlmostEquals(v.power, 60, 0.01);
  assertEquals(v.frequency, 50);
  assertEquals(p.cfCount, 1234);
  // negative power is sign-extended from 24 bits
  assertEquals(decodeBl0942Packet(bl0942Packet(1, 1, -598, 0)).powerRaw, -598);
});

Deno.test("BL0942 stream: noise and corrupt packets are skipped without losing the next one", () => {
  const good = bl0942Packet(65314, 3493240, 35880, 7);
  const bad = good.slice();
  bad[5] ^= 0x01;
  const stream = Uint8Array.from([0x00, 0x13, ...bad, 0x55, 0x55, ...good, 0xff, ...good.slice(0, 10)]);
  const parser = new Bl0942Parser();
  const ev = [...stream].flatMap((x) => parser.push(Uint8Array.of(x)));
  const packets = ev.filter((e) => e.kind === "packet");
  assertEquals(packets.length, 1);
  assert(ev.some((e) => e.kind === "error" && e.error.code === "bad_checksum"));
  assertEquals(parser.flush()[0].kind, "error"); // the cut-off tail
});

Deno.test("CSE7766: 55 5A and F2 5A packets decode; F2 = power cycle overflow = no load", () => {
  const normal = decodeCse7766Packet(csePacket(0x55, 200000, 1000, 300000, 1000000, 5000000, 50000));
  assertEquals(cse7766Raw(normal), { voltage: 200, current: 0.3, power: 100 });
  const noLoad = decodeCse7766Packet(csePacket(0xf2, 200000, 1000, 300000, 1000000, 5000000, 50000));
  assertEquals(noLoad.powerOverflow, true);
  assertEquals(cse7766Raw(noLoad).power, 0);
  assertEquals(cse7766Raw(noLoad).voltage, 200);
  assertEquals(
    assertThrows(() => decodeCse7766Packet(csePacket(0xaa, 1, 1, 1, 1, 1, 1)), CodecError).code,
    "chip_error",
  );
  const parser = new Cse7766Parser();
  const bad = csePacket(0x55, 1, 1, 1, 1, 1, 1);
  bad[23] ^= 1;
  const ev = parser.push(Uint8Array.from([0x5a, 0x00, ...bad, ...csePacket(0xf2, 200000, 1000, 0, 0, 0, 0)]));
  assertEquals(ev.filter((e) => e.kind === "packet").length, 1);
  assert(ev.some((e) => e.kind === "error"));
});

Deno.test("RN8209: the driver-notes vector reads 239.55 V; bad checksums rejected", () => {
  const b = fromHex(rn8209Voltage);
  const v = decodeRegisterResponse(rn8209, b[0], b.subarray(1));
  assertEquals([v.name, v.value], ["URMS", 0x2033e1]);
  assertAlmostEquals(v.value / RN8209_DEFAULTS.voltage, 239.55, 0.005);
  const bad = b.slice(1);
  bad[3] ^= 1;
  assertEquals(assertThrows(() => decodeRegisterResponse(rn8209, 0x24, bad), CodecError).code, "bad_checksum");
  // signed power register
  const pa = [0xff, 0xff, 0xff, 0x9c];
  const cs = ~(0x26 + pa.reduce((a, x) => a + x, 0)) & 0xff;
  assertEquals(decodeRegisterResponse(rn8209, 0x26, Uint8Array.from([...pa, cs])).value, -100);
});

Deno.test("register captures resynchronise after a corrupt transaction (RN8209, HT7017, BL6552)", () => {
  const good = fromHex(rn8209Voltage);
  const bad = good.slice();
  bad[2] ^= 0x40;
  const ev = parseRegisterCapture(rn8209, Uint8Array.from([...bad, ...good]));
  const reads = ev.filter((e) => e.kind === "read");
  assertEquals(reads.length, 1);
  assert(ev.some((e) => e.kind === "error"));

  // HT7017: 6A 08 → D2 D1 D0 CS with CS = ~(6A + 08 + data)
  const d = [0x25, 0x1c, 0x40];
  const cs = ~(0x6a + 0x08 + d[0] + d[1] + d[2]) & 0xff;
  const ht = parseRegisterCapture(ht7017, Uint8Array.from([0x00, 0x6a, 0x08, ...d, cs]));
  const r = ht.find((e) => e.kind === "read");
  assert(r && r.kind === "read");
  assertEquals([r.value.name, r.value.value], ["URMS", 0x251c40]);

  // BL6552: 35 13 → L M H CS, little-endian, CS = ~(35 + 13 + L + M + H)
  const l = [0x40, 0x1c, 0x25];
  const cs2 = ~(0x35 + 0x13 + l[0] + l[1] + l[2]) & 0xff;
  const v = decodeRegisterResponse(bl6552, 0x13, Uint8Array.from([...l, cs2]));
  assertEquals([v.name, v.value], ["VA_RMS", 0x251c40]);
  const w = [0xff, 0xff, 0xff];
  const cs3 = ~(0x35 + 0x22 + 0xff * 3) & 0xff;
  assertEquals(decodeRegisterResponse(bl6552, 0x22, Uint8Array.from([...w, cs3])).value, -1);
  // write frames carry their own checksum
  const wf = bl6552.writeFrame(0x9e, 0x55);
  assertEquals([...wf], [0xca, 0x9e, 0x55, 0, 0, ~(0xca + 0x9e + 0x55) & 0xff]);
});

Deno.test("calibration: divide vs multiply, and the reference's 60 W→30 W example", () => {
  assertEquals(computeFactor("divide", 35880, 30), 1196);
  assertAlmostEquals(computeFactor("multiply", 41, 60), 1.463, 0.001);
  assertEquals(assertThrows(() => computeFactor("divide", 0.0005, 60), CodecError).code, "no_load");
  assertEquals(assertThrows(() => computeFactor("divide", 100, 0), CodecError).code, "bad_reference");
  const r = calibrate("BL0942", { voltage: 230, current: 0.261, power: 60 }, {
    voltage: 3493240 * 1.02,
    current: 65314,
    power: 35880 * 0.97,
  }, BL0942_DEFAULTS);
  assert(Math.abs(r.before.errorPct.voltage - 2) < 0.05);
  for (const q of ["voltage", "current", "power"] as const) assert(Math.abs(r.after.errorPct[q]) < 1e-9);
  const m = calibrate("CSE7766", { voltage: 230, current: 0.26, power: 60 }, {
    voltage: 118,
    current: 0.0013,
    power: 32,
  }, { voltage: 1.94, current: 200, power: 1.88 });
  assertAlmostEquals(m.factors.power, 60 / 32, 1e-12);
});
