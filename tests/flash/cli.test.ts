// The commands people type: `deno task sim bk7231 ...` and `deno task agent flash backup|write|restore ...`,
// run as real processes against the simulator on a real pty.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { withTempDir } from "../helpers/tmp.ts";
import { equalBytes, fakeObkImage } from "./helpers.ts";

import { agentCli, startSimCli } from "./cli_helpers.ts";

const agent = (args: string[]) => agentCli(["flash", ...args]);

Deno.test("cli: sim prints its pty first; agent backs up, writes, restores; SIGTERM dumps the flash", async () => {
  await withTempDir(async (dir) => {
    const sim = await startSimCli(["--chip", "bk7231t", "--dump", `${dir}/dump.bin`]);
    try {
      assert(/^pty: \/dev\/pts\/\d+$/.test(sim.firstLine), sim.firstLine);
      const b = await agent([
        "backup",
        "--port",
        sim.path,
        "--out",
        `${dir}/backup.bin`,
        "--baud",
        "1500000",
        "--link-timeout",
        "5",
      ]);
      assertEquals(b.code, 0, b.stderr);
      assertStringIncludes(b.stdout, "chip bk7231t");
      // no --mac: the simulator derives one from its pty, so simulators side by side are distinct units
      const pts = Number(sim.path.split("/").pop());
      assertStringIncludes(
        b.stdout,
        `mac c8:47:8c:20:${(pts >> 8).toString(16).padStart(2, "0")}:${(pts & 0xff).toString(16).padStart(2, "0")}`,
      );
      const original = await Deno.readFile(`${dir}/backup.bin`);
      assertEquals(original.length, 0x200000);

      await Deno.writeFile(`${dir}/OpenBK7231T_UA_1.18.299.bin`, fakeObkImage(0x30000));
      const w = await agent([
        "write",
        "--port",
        sim.path,
        "--image",
        `${dir}/OpenBK7231T_UA_1.18.299.bin`,
        "--state-dir",
        `${dir}/state`,
        "--link-timeout",
        "5",
      ]);
      assertEquals(w.code, 0, w.stderr);
      assertStringIncludes(w.stdout, "at 0x11000");

      const r = await agent([
        "restore",
        "--port",
        sim.path,
        "--backup",
        `${dir}/backup.bin`,
        "--state-dir",
        `${dir}/state`,
        "--link-timeout",
        "5",
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(r.stdout, "bootloader area skipped");
    } finally {
      const { status } = await sim.stop();
      assertEquals(status.code, 0);
    }
    // the unit is back to its original flash, bootloader never touched
    assert(equalBytes(await Deno.readFile(`${dir}/dump.bin`), await Deno.readFile(`${dir}/backup.bin`)));
  });
});

Deno.test("cli: sim bk7231 --help prints its options and starts nothing", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../edge-agent/sim/main.ts", import.meta.url).pathname, "bk7231", "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0);
  const text = new TextDecoder().decode(out.stdout);
  assertStringIncludes(text, "--mac");
  assertStringIncludes(text, "--chip");
  assert(!/^pty: \/dev/m.test(text), text);
});

Deno.test("cli: a unit that never answers ends with Cannot get bus and the guidance, exit code 1", async () => {
  const sim = await startSimCli(["--chip", "bk7231n", "--blocked-uart"]);
  try {
    const r = await agent(["backup", "--port", sim.path, "--out", "/tmp/never-written.bin", "--link-timeout", "2"]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, "Cannot get bus");
    assertStringIncludes(r.stderr, "RN8209C");
  } finally {
    await sim.stop();
  }
});
