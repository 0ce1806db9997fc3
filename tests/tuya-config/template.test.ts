import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type BackupInspection, inspectBackup, obkProposal } from "../../shared/tuya-config/mod.ts";
import { parseProfile } from "../../shared/profiles/mod.ts";
import { bl0937Plug, dumpWith, tuyaMcuBreaker115200, tuyaMcuMeter9600, zmai90 } from "./devices.ts";

function inspect(entries: Parameters<typeof dumpWith>[2]): BackupInspection {
  const r = inspectBackup(dumpWith("bk7231n", "c8:47:8c:00:01:01", entries));
  if (!r.found) throw new Error("no store");
  return r;
}

Deno.test("BL0937 plug → OpenBeken pin template, startDriver BL0937 and a pulse-meter profile", () => {
  const p = obkProposal(inspect({ entries: bl0937Plug }));
  assertEquals(p.gpio, { 6: "BL0937CF1", 7: "BL0937CF", 8: "WifiLED_n", 10: "Btn", 24: "BL0937SEL", 26: "Rel" });
  assertEquals(p.channels, { 10: 1, 26: 1 });
  assertEquals(p.autoexec, "startDriver BL0937\nstartDriver NTP\n");
  const profile = parseProfile(p.profile);
  assertEquals(profile.transport, { kind: "pulse", chip: "BL0937" });
  assertEquals(profile.id, "backup-keyjup78v54myhan");
  assertEquals(p.warnings, []);
});

Deno.test("TuyaMCU meter at 9600: channels and divisors from the schema's units and scales", () => {
  const p = obkProposal(inspect({ entries: tuyaMcuMeter9600 }));
  assertEquals(p.gpio, {});
  assertEquals(
    p.autoexec.trim().split("\n"),
    [
      "startDriver TuyaMCU",
      "tuyaMcu_defWiFiState 4",
      "setChannelType 1 EnergyTotal_kWh_div100",
      "linkTuyaMCUOutputToChannel 1 val 1",
      "setChannelType 2 toggle",
      "linkTuyaMCUOutputToChannel 16 bool 2",
      "setChannelType 3 Current_div1000",
      "linkTuyaMCUOutputToChannel 18 val 3",
      "setChannelType 4 Power_div10",
      "linkTuyaMCUOutputToChannel 19 val 4",
      "setChannelType 5 Voltage_div10",
      "linkTuyaMCUOutputToChannel 20 val 5",
    ],
  );
  assert(p.warnings.some((w) => w.startsWith("dp6 is RAW")), p.warnings.join("; "));
  const profile = parseProfile(p.profile);
  if (profile.transport.kind !== "tuyamcu") throw new Error("not tuyamcu");
  assertEquals(profile.transport.baud, 9600);
  assertEquals(
    profile.transport.datapoints.map((d) => [d.dp, d.quantity, "scale" in d ? d.scale : undefined]),
    [[1, "energyWh", 10], [16, "relay", 1], [18, "current", 0.001], [19, "power", 0.1], [20, "voltage", 0.1]],
  );
});

Deno.test("TuyaMCU at 115200: tuyaMcu_setBaudRate, and range-guessed dps are flagged for review", () => {
  const p = obkProposal(inspect({ entries: tuyaMcuBreaker115200 }));
  const lines = p.autoexec.split("\n");
  assertEquals(lines.slice(0, 3), ["startDriver TuyaMCU", "tuyaMcu_setBaudRate 115200", "tuyaMcu_defWiFiState 4"]);
  assertStringIncludes(p.autoexec, "linkTuyaMCUOutputToChannel 1 val 1");
  assertStringIncludes(p.autoexec, "setChannelType 1 EnergyTotal_kWh_div100");
  assert(p.warnings.some((w) => w.includes("dp1 read as energyWh from its scale 2")), p.warnings.join("; "));
});

Deno.test("ZMAi-90: latching relay roles, the UART chip left to the operator with a warning", () => {
  const p = obkProposal(inspect({ entries: zmai90 }));
  assertEquals(p.gpio, { 6: "WifiLED_n", 7: "Btn", 14: "BridgeFWD", 16: "BridgeREV", 26: "LED" });
  assertStringIncludes(p.autoexec, "UART1 (P10 RX1 / P11 TX1) at 4800 baud, even parity");
  assertEquals(p.profile, undefined);
  assert(p.warnings.some((w) => w.includes("not named")));
});

Deno.test("mapping assistant: the backup's schema as evidence, and where it contradicts the SPM02's MCU", async () => {
  const { assistMapping } = await import("../../edge-agent/mapping/assist.ts");
  const { fromHex } = await import("../../shared/tuyamcu/mod.ts");
  const { seedFrames, spmValueFrames } = await import("../drivers/seed_vectors.ts");
  const { spm02 } = await import("./devices.ts");
  const schema = inspect({ entries: spm02 }).schema;
  const frames: string[] = [
    seedFrames.spmPhaseB,
    seedFrames.spmPhaseC,
    seedFrames.spmFrequency,
    seedFrames.spmTotalPower,
  ];
  const capture = fromHex([...frames, ...Object.values(spmValueFrames)].join(""));
  const r = assistMapping(capture, [], { schema });
  const c = r.contradictions.join("\n");
  // the schema (like the cloud model JSON) calls dp103 voltage and dp105 power, one off from the MCU:
  // its 98 at dp103 is no voltage, its 2316 at dp105 is a phase voltage
  assert(c.includes("dp103: backup schema reads voltage ×0.1, but 98 would be 9.8, implausible"), c);
  assert(c.includes("dp105: backup schema reads power ×1 (unit W, scale 0), but the MCU's value 2316 is voltage"), c);
  assert(c.includes("dp102 (value 2317) is sent by the MCU but missing from the backup's schema"), c);
  // where the schema and the capture agree, the schema is the evidence
  const q = (dp: number) => r.proposals.find((p) => p.dp === dp);
  assertEquals([q(29)?.quantity, q(29)?.scale, q(29)?.evidence], ["power", 1, "backup schema: unit W, scale 0"]);
  // without the schema nothing is said about it
  assertEquals(assistMapping(capture, []).contradictions.filter((x) => x.includes("backup schema")), []);
});
