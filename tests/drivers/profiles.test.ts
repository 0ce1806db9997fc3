import { assert, assertEquals, assertThrows } from "@std/assert";
import { DpState } from "../../shared/profiles/readings.ts";
import { getProfile, parseProfile, pinTemplate, profiles } from "../../shared/profiles/mod.ts";
import { decodeDatapoints, decodeTuyaFrame, fromHex } from "../../shared/tuyamcu/mod.ts";
import { CodecError } from "../../shared/errors.ts";
import { chipSpec } from "../../shared/meterchips/registry.ts";
import { readingSchema } from "../../shared/telemetry.ts";
import { seedFrames, spmValueFrames } from "./seed_vectors.ts";

Deno.test("the seed models are profiles with a transport, GPIO template and autoexec", () => {
  // a subset, not the list: adding a model is adding a profile, not editing this test
  for (const id of ["cse7766-plug", "din-rail-tuyamcu", "pziot-e01", "smr1-zmb9", "spm02-v2", "zmai-90"]) {
    assert(profiles.has(id), `seed model ${id} missing`);
  }
  const z = getProfile("zmai-90");
  assertEquals(z.transport.kind === "chip" && z.transport.chip, "RN8209C");
  assertEquals(pinTemplate(z).roles, { 6: "WifiLED_n", 7: "Btn", 14: "BridgeFWD", 16: "BridgeREV", 26: "LED" });
  const smr = getProfile("smr1-zmb9");
  assert(smr.transport.kind === "tuyamcu");
  assertEquals(smr.transport.datapoints.map((d) => d.dp).sort((a, b) => a - b), [
    1,
    3,
    4,
    6,
    9,
    11,
    16,
    17,
    18,
    19,
    20,
    101,
  ]);
  for (const p of profiles.values()) assert(p.autoexec.length > 10, p.id);
  assertEquals(assertThrows(() => getProfile("nope"), CodecError).code, "unknown_profile");
  assertEquals(assertThrows(() => parseProfile({ id: "x" }), CodecError).code, "bad_profile");
});

Deno.test("every chip profile matches its registry chip: line settings and the OpenBeken driver its autoexec starts", () => {
  let checked = 0;
  for (const p of profiles.values()) {
    if (p.transport.kind !== "chip") continue;
    const chip = chipSpec(p.transport.chip);
    if (chip.line) {
      assertEquals({ baud: p.transport.baud, parity: p.transport.parity }, chip.line, `${p.id}: line settings`);
    }
    if (chip.obkDriver) {
      assert(
        p.autoexec.split("\n").some((l) => l.trim() === `startDriver ${chip.obkDriver}`),
        `${p.id}: autoexec must start OpenBeken's ${chip.obkDriver} driver`,
      );
    }
    checked++;
  }
  assert(checked >= 3);
  const unknownChip = {
    id: "x-plug",
    model: "x",
    module: "BK7231N",
    transport: { kind: "chip", chip: "BL0999", baud: 4800, pollMs: 1000 },
    gpio: {},
    autoexec: "",
  };
  const e = assertThrows(() => parseProfile(unknownChip), CodecError);
  assert(e.message.includes("transport.chip"), e.message);
});

Deno.test("SPM02 profile turns the thread's log into a 3-phase reading that fits the telemetry contract", () => {
  const s = new DpState(getProfile("spm02-v2"));
  const frames = [
    seedFrames.spmPhaseB,
    seedFrames.spmPhaseC,
    seedFrames.spmFrequency,
    seedFrames.spmTotalPower,
    seedFrames.spmPowerFactor,
    ...Object.values(spmValueFrames),
  ];
  for (const hex of frames) for (const d of decodeDatapoints(decodeTuyaFrame(fromHex(hex)).data)) s.apply(d);
  const r = s.snapshot("spm-1", Date.UTC(2026, 0, 1), 0);
  assert(r);
  readingSchema.parse(r);
  assertEquals(r.phases, [
    { voltage: 231.7, current: 0.098, power: 13 },
    { voltage: 231.6, current: 0.209, power: 27 },
    { voltage: 231.8, current: 0.407, power: 54 },
  ]);
  assertEquals([r.power, r.frequency, r.powerFactor], [92, 50.02, 0.59]);
});

Deno.test("SMR1 profile: dp6 phase A and dp16 relay from the query-state answers", () => {
  const s = new DpState(getProfile("smr1-zmb9"));
  for (
    const hex of [seedFrames.smrSwitchOff, seedFrames.smrEnergyZero, seedFrames.smrPhaseA, seedFrames.smrBreakerId]
  ) {
    for (const d of decodeDatapoints(decodeTuyaFrame(fromHex(hex)).data)) s.apply(d);
  }
  const r = s.snapshot("smr-1", Date.UTC(2026, 0, 1), 0)!;
  assertEquals([r.voltage, r.current, r.power, r.energyWh], [227, 0, 0, 0]);
  assertEquals(s.relay, false);
  assertEquals(s.lastSeen.get(19)?.value, "ETU1-IOT-WIFI\0");
});
