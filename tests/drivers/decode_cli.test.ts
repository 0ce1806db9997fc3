import { assert, assertEquals } from "@std/assert";
import { withTempDir } from "../helpers/tmp.ts";
import { refTruncatedDp, seedFrames, spmValueFrames } from "./seed_vectors.ts";

const deno = Deno.execPath();
const script = new URL("../../edge-agent/decode.ts", import.meta.url).pathname;

async function decode(...args: string[]) {
  const out = await new Deno.Command(deno, { args: ["run", "-A", script, ...args], stdout: "piped", stderr: "piped" })
    .output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  return { code: out.code, lines, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("decode CLI: a pasted SPM02 log file gives one JSON object per frame with typed values", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/spm02.txt`;
    const body = [
      "Info:TuyaMCU:Received:",
      seedFrames.spmPhaseB.replace(/(..)/g, "$1 ").trim(),
      "(some prose in between)",
      seedFrames.spmFrequency,
      spmValueFrames[106],
      seedFrames.spmFault,
      seedFrames.smrBreakerId,
      seedFrames.dinButtonOn,
    ].join("\n");
    await Deno.writeTextFile(file, body);
    const r = await decode("tuyamcu", file);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.lines.length, 6);
    assertEquals(r.lines[0].datapoints[0].value, "090C0000D100001B");
    assertEquals(r.lines[0].datapoints[0].rawPower.raw, { voltage: 2316, current: 209, power: 27 });
    assertEquals(r.lines[1].datapoints[0], { id: 32, type: "value", value: 5002 });
    assertEquals(r.lines[2].datapoints[0].value, 209);
    assertEquals(r.lines[3].datapoints[0], { id: 9, type: "bitmap", value: "00" });
    assertEquals(r.lines[4].datapoints[0].value, "ETU1-IOT-WIFI\0");
    assertEquals(r.lines[5].datapoints[0], { id: 105, type: "bool", value: true });
    for (const l of r.lines) assertEquals([l.version, l.checksumOk], [3, true]);
    assert(r.stderr.includes("skipped non-hex line"));
  });
});

Deno.test("decode CLI: a truncated datapoint or bad checksum exits non-zero with a clear message", async () => {
  const t = await decode("tuyamcu", refTruncatedDp);
  assertEquals(t.code, 1);
  assert(t.stderr.includes("datapoint 1 declares 4 bytes"), t.stderr);
  const bad = seedFrames.spmFrequency.slice(0, -2) + "00";
  const b = await decode("tuyamcu", bad + seedFrames.spmTotalPower);
  assertEquals(b.code, 1);
  assert(b.stderr.includes("checksum"), b.stderr);
  assertEquals(b.lines.find((l) => l.ok)?.datapoints[0].value, 92); // the next frame still decodes
  assertEquals((await decode("nope", "00")).code, 2);
});

Deno.test("decode CLI: rn8209 register transactions", async () => {
  const r = await decode("rn8209", "24 20 33 E1 A7");
  assertEquals(r.code, 0);
  assertEquals(r.lines[0], {
    offset: 0,
    ok: true,
    checksumOk: true,
    op: "read",
    register: 0x24,
    name: "URMS",
    value: 2110433,
    raw: "242033E1A7",
    // engineering units like bl0942's, with the calibration they came from (the RN8209C's measured profile)
    reading: { quantity: "voltage", value: 239.5497, unit: "V" },
    calibration: { factors: { voltage: 8810, current: 52882, power: 9857 }, source: "profile zmai-90" },
  });
  const given = await decode("rn8209", "24 20 33 E1 A7", "--cal", "8800,1,1");
  assertEquals(given.lines[0].reading.value, 239.8219);
  assertEquals(given.lines[0].calibration.source, "--cal");
  const bad = await decode("rn8209", "24 20 33 E1 A7", "--cal", "8800,0");
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes("three non-zero factors"), bad.stderr);
});

Deno.test("decode CLI: cse7766 prints volts, amps and watts (OpenBeken's drv_cse7766.c '70W 240V' sample)", async () => {
  // the packet quoted in OpenBeken src/driver/drv_cse7766.c as a 70 W load at 240 V (an Elektroda user's capture)
  const r = await decode("cse7766", "55 5A 02 FC D8 00 06 28 00 41 32 00 C9 FE 53 7B 18 02 3B D4 71 71 E3 FA");
  assertEquals(r.code, 0, r.stderr);
  const v = r.lines[0].values;
  assert(Math.abs(v.voltage - 240) < 2, JSON.stringify(v));
  assert(Math.abs(v.power - 70) < 1, JSON.stringify(v));
  assert(v.current > 0.25 && v.current < 0.35, JSON.stringify(v));
  assertEquals(r.lines[0].calibration.source, "profile cse7766-plug");
});

Deno.test("decode CLI: bl0940 packets (a capture from Tasmota's source) with values; a corrupt one exits 1", async () => {
  const good =
    "55 B8 55 00 2F 73 00 D2 02 00 00 C6 74 F9 01 00 97 89 00 37 01 00 AB 00 00 2D 00 00 02 02 00 FE 03 00 6E";
  const r = await decode("bl0940", good);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.lines.length, 1);
  assertEquals(r.lines[0].packet.voltageRaw, 7652864);
  assertEquals(r.lines[0].packet.cfCount, 171);
  assertEquals(Math.round(r.lines[0].values.voltage * 10), 2319);
  assertEquals(Math.round(r.lines[0].values.power * 10), 246);
  const bad = await decode("bl0940", good.replace("2F 73", "2F 74") + " " + good);
  assertEquals(bad.code, 1);
  assert(bad.stderr.includes("bad_checksum"), bad.stderr);
  assertEquals(bad.lines.filter((l) => l.ok).length, 1); // the packet after it still decodes
});
