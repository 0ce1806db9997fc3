import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  decodeDatapoints,
  decodeRawPower,
  decodeTuyaFrame,
  encodeTuyaFrame,
  fromHex,
  toHex,
  TuyaCommand,
  TuyaFrameParser,
  tuyaMessages,
} from "../../shared/tuyamcu/mod.ts";
import { CodecError } from "../../shared/errors.ts";
import {
  dinTxPowerOn,
  moduleFrames,
  refMeterState,
  refTruncatedDp,
  refV2C3P3,
  seedFrames,
  spmValueDps,
  spmValueFrames,
} from "./seed_vectors.ts";

const dps = (hex: string) => decodeDatapoints(decodeTuyaFrame(fromHex(hex)).data);

Deno.test("every seed frame passes its checksum and round-trips through the encoder", () => {
  for (
    const [name, hex] of Object.entries({
      ...seedFrames,
      ...moduleFrames,
      ...Object.fromEntries(Object.entries(spmValueFrames)),
    })
  ) {
    const f = decodeTuyaFrame(fromHex(hex));
    assertEquals(toHex(encodeTuyaFrame(f)), hex, name);
  }
});

Deno.test("DIN-rail meter: button dp105, relay dp16, raw dp6 voltage and current", () => {
  assertEquals(dps(seedFrames.dinButtonOn).map((d) => [d.id, d.type, d.value]), [[105, "bool", true]]);
  assertEquals(dps(seedFrames.dinButtonOff)[0].value, false);
  assertEquals(dps(seedFrames.dinRelayOff).map((d) => [d.id, d.value]), [[16, false]]);
  const hb = decodeTuyaFrame(fromHex(seedFrames.dinHeartbeatReply));
  assertEquals([hb.version, hb.command, toHex(hb.data)], [3, TuyaCommand.heartbeat, "01"]);
  const noLoad = dps(seedFrames.dinVcpNoLoad)[0];
  assertEquals([noLoad.id, noLoad.type, noLoad.value], [6, "raw", "09BA000000000000000E"]);
  assertEquals(decodeRawPower(noLoad.bytes).voltage, 249.0); // "09BA looks like a big endian 2490"
  const iron = decodeRawPower(dps(seedFrames.dinVcpIron)[0].bytes, undefined, { powerUnitW: 1 });
  assertEquals([iron.voltage, iron.current], [242.0, 0.1]); // "settled on 0.1A", 239-240 V mains
});

Deno.test("SMR1/ZMB9 breaker: the query-state answers decode to the thread's values", () => {
  assertEquals(dps(seedFrames.smrSwitchOff).map((d) => [d.id, d.type, d.value]), [[16, "bool", false]]);
  assertEquals(dps(seedFrames.smrEnergyZero).map((d) => [d.id, d.type, d.value]), [[1, "value", 0]]);
  assertEquals(dps(seedFrames.smrFaultNone).map((d) => [d.id, d.type, d.value]), [[9, "bitmap", "00"]]);
  const phase = dps(seedFrames.smrPhaseA)[0];
  assertEquals([phase.id, phase.type], [6, "raw"]);
  assertEquals(decodeRawPower(phase.bytes).voltage, 227.0);
  const alarm = dps(seedFrames.smrAlarmSet2)[0];
  assertEquals([alarm.id, alarm.value], [18, "0101001003010113040100AF"]); // overcurrent 16 A, over 275 V, under 175 V
  const id = dps(seedFrames.smrBreakerId)[0];
  assertEquals([id.id, id.type, id.value], [19, "string", "ETU1-IOT-WIFI\0"]);
});

Deno.test("SPM02 v2: phase B/C raw frames agree with dp 105-110, full 3-byte fields kept", () => {
  const b = decodeRawPower(dps(seedFrames.spmPhaseB)[0].bytes);
  const c = decodeRawPower(dps(seedFrames.spmPhaseC)[0].bytes);
  const v: Record<number, number> = {};
  for (const [id, hex] of Object.entries(spmValueFrames)) {
    const [d] = dps(hex);
    assertEquals(d.id, Number(id));
    v[d.id] = d.value as number;
  }
  assertEquals(v, spmValueDps);
  assertEquals([b.raw.voltage, b.raw.current, b.raw.power], [v[105], v[106], v[107]]);
  assertEquals([c.raw.voltage, c.raw.current, c.raw.power], [v[108], v[109], v[110]]);
  assertEquals([b.voltage, b.current, c.voltage, c.current], [231.6, 0.209, 231.8, 0.407]);
  assertEquals(dps(seedFrames.spmFrequency)[0].value, 5002); // 50.02 Hz
  assertEquals(dps(seedFrames.spmTotalPower)[0].value, 92);
  assertEquals(dps(seedFrames.spmPowerFactor)[0].value, 59);
  // a current above 65.535 A survives (OBK's TAC2121C decoder would wrap it)
  const big = decodeRawPower(Uint8Array.of(0x09, 0x0c, 0x01, 0x11, 0x70, 0x00, 0x00, 0x1b));
  assertEquals(big.current, 70);
});

Deno.test("reference frames: meter state, V2C3P3, truncated DP rejected", () => {
  const [e, vcp, relay] = dps(refMeterState);
  assertEquals([e.id, e.value, relay.id, relay.value], [1, 12345, 16, true]);
  const r = decodeRawPower(vcp.bytes, undefined, { powerUnitW: 1 });
  assertEquals([r.voltage, r.current, r.power], [232.6, 0.153, 35]);
  const v = decodeRawPower(dps(refV2C3P3)[0].bytes, undefined, { powerUnitW: 1 });
  assertEquals([v.voltage, v.current, v.power], [230.1, 1.234, 283]);
  const err = assertThrows(() => dps(refTruncatedDp), CodecError);
  assertEquals(err.code, "truncated_dp");
});

Deno.test("module→MCU messages match the captured and reference bytes", () => {
  assertEquals(toHex(tuyaMessages.heartbeat()), moduleFrames.heartbeat);
  assertEquals(toHex(tuyaMessages.productInfo()), moduleFrames.productInfo);
  assertEquals(toHex(tuyaMessages.workingMode()), moduleFrames.workingMode);
  assertEquals(toHex(tuyaMessages.wifiState(4)), moduleFrames.wifi4);
  assertEquals(toHex(tuyaMessages.queryState()), moduleFrames.queryState);
  assertEquals(toHex(tuyaMessages.setDp([{ id: 1, type: "bool", value: true }])), moduleFrames.setDp1On);
  assertEquals(toHex(tuyaMessages.setDp([{ id: 2, type: "value", value: 500 }])), moduleFrames.setDp2Value500);
  assertEquals(toHex(tuyaMessages.setDp([{ id: 4, type: "enum", value: 2 }])), moduleFrames.setDp4Enum2);
  assertEquals(toHex(tuyaMessages.timeSync(new Date(2024, 10, 20, 9, 13, 20))), moduleFrames.timeSync);
  assertEquals(toHex(tuyaMessages.syncReportAck()), moduleFrames.syncAck);
  assertEquals(toHex(tuyaMessages.rssi(-54)), moduleFrames.rssiMinus54);
  assertEquals(toHex(tuyaMessages.networkStatus(4)), moduleFrames.netStatus4);
  assertEquals(toHex(tuyaMessages.wifiResetAck()), moduleFrames.wifiResetAck);
  assertEquals(toHex(tuyaMessages.signalStrength(80)), moduleFrames.signal80);
  assertEquals(toHex(tuyaMessages.recordStatusAck()), moduleFrames.recordAck);
});

Deno.test("stream parser: the DIN-rail TX capture splits into its 10 frames", () => {
  const p = new TuyaFrameParser();
  const ev = p.push(fromHex(dinTxPowerOn));
  const frames = ev.filter((e) => e.kind === "frame");
  assertEquals(frames.length, 10);
  assertEquals(ev.length, 10);
  assertEquals(p.pending, 0);
});

Deno.test("stream parser: noise, a bad checksum and a corrupt length never lose the next frame", () => {
  const good = fromHex(seedFrames.spmPhaseB);
  const bad = good.slice();
  bad[bad.length - 1] ^= 0xff;
  const badLen = good.slice();
  badLen[5] = 0x40; // length 64: would swallow what follows if trusted
  const noise = fromHex("00FF5512AA55");
  const stream = new Uint8Array([...noise, ...bad, ...badLen, ...good, ...noise, ...good]);
  // feed one byte at a time: chunking must not matter
  const p = new TuyaFrameParser();
  const ev = [...stream].flatMap((x) => p.push(Uint8Array.of(x)));
  ev.push(...p.flush());
  const frames = ev.filter((e) => e.kind === "frame");
  const errors = ev.filter((e) => e.kind === "error");
  assertEquals(frames.length, 2);
  for (const f of frames) assertEquals(toHex(f.raw), seedFrames.spmPhaseB);
  assert(errors.some((e) => e.kind === "error" && e.error.code === "bad_checksum"));
});

Deno.test("single-frame decoder rejects truncation, trailing bytes and checksum errors", () => {
  const f = fromHex(seedFrames.spmHeartbeat);
  assertEquals(assertThrows(() => decodeTuyaFrame(f.slice(0, 6)), CodecError).code, "truncated");
  assertEquals(assertThrows(() => decodeTuyaFrame(new Uint8Array([...f, 0])), CodecError).code, "trailing");
  const bad = f.slice();
  bad[6] = 0x02;
  assertEquals(assertThrows(() => decodeTuyaFrame(bad), CodecError).code, "bad_checksum");
});

Deno.test("seed RX captures pasted whole: frames found, garbage rejected, nothing lost", async () => {
  const { dinRxRelayOff, dinRxPowerOff, dinRxNoiseStart, smrEsphomeDp6 } = await import("./seed_vectors.ts");
  const run = (hex: string) => {
    const p = new TuyaFrameParser();
    return [...p.push(fromHex(hex)), ...p.flush()];
  };
  const a = run(dinRxRelayOff).filter((e) => e.kind === "frame");
  assertEquals(a.length, 7);
  assertEquals(a.map((e) => e.kind === "frame" && e.frame.command), [0, 7, 0, 0, 0, 0, 0]);
  const b = run(dinRxPowerOff);
  const frames = b.filter((e) => e.kind === "frame");
  assertEquals(frames.length, 2); // dp6 and dp16; the power-down bytes are noise
  assert(b.every((e) => e.kind !== "error"));
  const c = run(dinRxNoiseStart);
  assertEquals(c.filter((e) => e.kind === "frame").length, 0);
  assert(c.some((e) => e.kind === "error" && e.error.code === "bad_length")); // 0x0609 = 1545 bytes: no real MCU frame
  assertEquals(decodeRawPower(fromHex(smrEsphomeDp6)).voltage, 233.7);
});
