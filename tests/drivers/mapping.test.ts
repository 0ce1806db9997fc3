import { assert, assertEquals } from "@std/assert";
import { assistMapping } from "../../edge-agent/mapping/assist.ts";
import { parseTuyaModelText } from "../../edge-agent/mapping/tuya_model.ts";
import { fromHex } from "../../shared/tuyamcu/mod.ts";
import { getProfile, parseProfile } from "../../shared/profiles/mod.ts";
import { seedFrames, spmValueFrames } from "./seed_vectors.ts";

const spmCapture = () =>
  fromHex(
    [
      seedFrames.spmHeartbeat,
      seedFrames.spmPhaseB,
      seedFrames.spmPhaseC,
      seedFrames.spmFrequency,
      seedFrames.spmTotalPower,
      seedFrames.spmPowerFactor,
      seedFrames.spmFault,
      ...Object.values(spmValueFrames),
    ].join(""),
  );

Deno.test("mapping assistant: the SPM02 log maps to the MCU's real dpIDs, whole-watt phase power", async () => {
  const model = parseTuyaModelText(await Deno.readTextFile(new URL("./fixtures/spm02_v2_model.json", import.meta.url)));
  assert(model.length > 30);
  const r = assistMapping(spmCapture(), model, { id: "spm02-mapped" });
  const q = (dp: number) => r.proposals.find((p) => p.dp === dp);
  // phases B and C from the raw packets, phase A by the stride of the triplets
  assertEquals([q(105)?.quantity, q(105)?.phase, q(106)?.quantity, q(107)?.quantity], [
    "voltage",
    1,
    "current",
    "power",
  ]);
  assertEquals([q(108)?.quantity, q(108)?.phase, q(110)?.quantity], ["voltage", 2, "power"]);
  assertEquals([q(102)?.quantity, q(102)?.phase, q(103)?.quantity, q(104)?.quantity], [
    "voltage",
    0,
    "current",
    "power",
  ]);
  assertEquals([q(102)?.scale, q(103)?.scale, q(104)?.scale], [0.1, 0.001, 1]);
  assertEquals(r.powerUnitW, 1);
  assertEquals([q(32)?.quantity, q(32)?.scale], ["frequency", 0.01]);
  assertEquals([q(29)?.quantity, q(29)?.scale], ["power", 1]);
  assertEquals([q(50)?.quantity, q(50)?.scale], ["powerFactor", 0.01]);
  // the contradictions the thread ran into
  const c = r.contradictions.join("\n");
  assert(c.includes("dp103: model JSON says cur_voltage_x"), c);
  assert(c.includes("dp102: model JSON says data_report_duration") || c.includes("dp102"), c);
  assert(c.includes("0.0001 kW"), c);
  // outputs: an autoexec OBK can run and a profile the agent can load
  assert(r.autoexec.includes("linkTuyaMCUOutputToChannel 102 val"));
  assert(r.autoexec.includes("setChannelType") && r.autoexec.startsWith("startDriver TuyaMCU"));
  const prof = parseProfile(r.profile);
  assertEquals(prof.phases, 3);
});

Deno.test("mapping assistant without a model: DIN-rail raw dp6 and SMR1 values", () => {
  const r = assistMapping(
    fromHex(seedFrames.smrPhaseA + seedFrames.smrEnergyZero + seedFrames.smrSwitchOff + seedFrames.dinVcpNoLoad),
  );
  const six = r.proposals.find((p) => p.dp === 6);
  assertEquals([six?.quantity, six?.decoder], ["phase", "V2C3P3"]);
  assertEquals(r.contradictions, []);
  assert(r.autoexec.includes("linkTuyaMCUOutputToChannel 6 RAW_V2C3P3"));
  // no load in the capture says nothing about the power unit: the proposal falls back to OpenBeken's 1 W per
  // count, as the built-in din-rail-tuyamcu profile has it (it proposed 0.1 W)
  const proposed = parseProfile(r.profile);
  const builtin = getProfile("din-rail-tuyamcu");
  const rawDp = (p: typeof proposed) =>
    p.transport.kind === "tuyamcu" ? p.transport.datapoints.find((d) => d.dp === 6) : undefined;
  assertEquals(
    [(rawDp(proposed) as { powerUnitW?: number }).powerUnitW, (rawDp(builtin) as { powerUnitW?: number }).powerUnitW],
    [1, 1],
  );
});
