/**
 * Vectors from OpenBeken's own self-test, src/selftest/selftest_tuyaMCU.c (openshwprojects/OpenBK7231T_App):
 * the decoders must agree with the firmware a unit runs.
 *  - Test_TuyaMCU_RawAccess, RAW_TAC2121C_VCP: `55AA0307000C08…43A1` on a ChType_Power channel is asserted
 *    67 (W), 230.5 V, 302 mA; `55AA0307001406…0310` is 232.6 V, 153 mA, 35 — one watt per power count
 *    (230.5 V × 0.302 A = 69.6 VA ≥ 67 W; at 0.1 W it would be 6.7 W, a power factor of 0.1).
 *  - Test_TuyaMCU_Robustness: a truncated v3 state report and a truncated v0 0x08 record report (7 date
 *    bytes, then datapoints) are refused; the complete v0 0x08 one sets dp 1 = 1; a value DP is signed.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";

const script = new URL("../../edge-agent/decode.ts", import.meta.url).pathname;

async function decode(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  return { code: out.code, lines, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("OBK self-test RAW_TAC2121C_VCP: the decode CLI prints 67 W by default (1 W per count)", async () => {
  const r = await decode("tuyamcu", "55AA0307000C08000008090100012E000043A1");
  assertEquals(r.code, 0, r.stderr);
  const p = r.lines[0].datapoints[0].rawPower;
  assertEquals([p.voltage, p.current, p.power], [230.5, 0.302, 67]);

  const r2 = await decode("tuyamcu", "55AA03070014060000080916000099000023010200040000000310");
  assertEquals(r2.code, 0, r2.stderr);
  const p2 = r2.lines[0].datapoints[0].rawPower;
  assertEquals([p2.voltage, p2.current, p2.power], [232.6, 0.153, 35]);
  assertEquals(r2.lines[0].datapoints[1], { id: 1, type: "value", value: 3 });
  // a meter that really counts 0.1 W says so explicitly
  const tenth = await decode("tuyamcu", "55AA0307000C08000008090100012E000043A1", "--power-unit", "0.1");
  assertEquals(tenth.lines[0].datapoints[0].rawPower.power, 6.7);
});

Deno.test("OBK self-test robustness: v0 0x08 record reports decode after their 7 date bytes; truncated ones are refused", async () => {
  const ok = await decode("tuyamcu", "55AA0008000F0000000000000001020004000000011E");
  assertEquals(ok.code, 0, ok.stderr);
  assertEquals(ok.lines[0].version, 0);
  assertEquals(ok.lines[0].datapoints, [{ id: 1, type: "value", value: 1 }]);
  assertEquals(ok.lines[0].recordDate, { valid: false });

  // the example in drv_tuyaMCU.c's comment: date valid flag 0, then dp 1 bool 1
  const doc = await decode("tuyamcu", "55AA0008000C00020202020202010100010123");
  assertEquals(doc.lines[0].datapoints, [{ id: 1, type: "bool", value: true }]);

  const truncated = await decode("tuyamcu", "55AA0008000D0000000000000001020004001C37");
  assertEquals(truncated.code, 1);
  assertEquals(truncated.lines[0].ok, false);
  assertStringIncludes(truncated.lines[0].error, "truncated_dp");

  const noDate = await decode("tuyamcu", "55AA000800030000000A");
  assertEquals(noDate.lines[0].ok, false);
  assertStringIncludes(noDate.lines[0].error, "7 date bytes");

  const v3Truncated = await decode("tuyamcu", "55AA030700060102000400172D");
  assertEquals(v3Truncated.code, 1);
  assertEquals(v3Truncated.lines[0].ok, false);

  const signed = await decode("tuyamcu", "55AA0307000801020004FFFFFFF60B");
  assertEquals(signed.lines[0].datapoints[0].value, -10);
});
