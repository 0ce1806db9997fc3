/**
 * The chip registry is the one list of metering chips: everything that dispatches on a chip
 * (profile schema, calibration kinds, decode CLI, `deno task sim`) must know every entry, and
 * each entry's simulator must stay independent of the codec it checks.
 */
import { assert, assertEquals } from "@std/assert";
import { CHIP_CLI_NAMES, CHIP_NAMES, CHIPS } from "../../shared/meterchips/registry.ts";
import { CHIP_CAL_KIND } from "../../shared/meterchips/calibration.ts";
import { chipTransportSchema } from "../../shared/profiles/types.ts";

const simDir = new URL("../../edge-agent/sim/", import.meta.url);
const deno = Deno.execPath();

Deno.test("registry: names unique, every chip in the profile schema and the calibration rules", () => {
  assertEquals(new Set(CHIP_NAMES).size, CHIPS.size);
  assertEquals(new Set(CHIP_CLI_NAMES).size, CHIPS.size);
  for (const c of CHIPS.values()) {
    const t = chipTransportSchema.safeParse({ kind: "chip", chip: c.name, baud: 4800, pollMs: 1000 });
    assert(t.success, `${c.name}: the profile schema must accept it`);
    for (const n of [c.name, ...(c.aliases ?? [])]) assertEquals(CHIP_CAL_KIND[n], c.cal, n);
    for (const q of ["voltage", "current", "power"] as const) assert(c.defaults[q] > 0, `${c.name} ${q}`);
    if (c.protocol.kind === "registers") {
      for (const r of c.protocol.poll) assert(c.protocol.chip.registers[r], `${c.name}: polls unknown register ${r}`);
    }
  }
  assert(!chipTransportSchema.safeParse({ kind: "chip", chip: "BL0999", baud: 4800, pollMs: 1000 }).success);
});

Deno.test("registry: each simulator exports its entry and builds its own bytes (imports no codec)", async () => {
  for (const c of CHIPS.values()) {
    const url = new URL(c.sim.module, simDir);
    const src = await Deno.readTextFile(url);
    assert(!/from\s+["'][^"']*shared\/meterchips\//.test(src), `${c.sim.module} must not import shared/meterchips`);
    const m = await import(url.href);
    assertEquals(typeof m[c.sim.run], "function", `${c.sim.module} exports ${c.sim.run}`);
  }
});

Deno.test("registry: the decode CLI and `deno task sim` offer every chip; the sim starts one on a pty", async () => {
  const usage = await new Deno.Command(deno, {
    args: ["run", "-A", new URL("../../edge-agent/decode.ts", import.meta.url).pathname],
    stderr: "piped",
  }).output();
  const decodeUsage = new TextDecoder().decode(usage.stderr);
  for (const n of CHIP_CLI_NAMES) assert(decodeUsage.includes(`|${n}`), `decode usage lists ${n}: ${decodeUsage}`);

  for (const n of CHIP_CLI_NAMES) {
    const child = new Deno.Command(deno, {
      args: ["run", "-A", new URL("main.ts", simDir).pathname, n],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    try {
      while (!out.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
    } finally {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
    }
    assert(/^pty: \/dev\/pts\/\d+/.test(out), `sim ${n}: ${out}`);
  }
});
