import { assert } from "@std/assert";
import { calibrateDriver } from "../../edge-agent/calibration/bench.ts";
import type { ChipPoller } from "../../edge-agent/drivers/chip.ts";
import { pollerForProfile } from "../../edge-agent/drivers/from_profile.ts";
import { Bl0942Sim } from "../../edge-agent/sim/bl0942.ts";
import { Cse7766Sim } from "../../edge-agent/sim/cse7766.ts";
import { Rn8209Sim } from "../../edge-agent/sim/register_chips.ts";
import { type GainError, PhysicalMeter } from "../../edge-agent/sim/physics.ts";
import type { PtyDevice } from "../../edge-agent/sim/pty_device.ts";
import { getProfile, parseProfile } from "../../shared/profiles/mod.ts";
import { Collector } from "./helpers.ts";

const gain: GainError = { voltage: 1.031, current: 0.957, power: 1.048 };
const pct = (a: number, b: number) => Math.abs((a - b) / b) * 100;

async function calibrationRun(profileId: string, makeSim: (m: PhysicalMeter) => PtyDevice) {
  const prof = structuredClone(getProfile(profileId));
  if (prof.transport.kind === "chip") prof.transport.pollMs = 60;
  const meter = new PhysicalMeter({ loadW: 60 }); // the 60 W bulb
  const sim = makeSim(meter).start();
  const poller = pollerForProfile(parseProfile(prof), {
    port: sim.path,
    deviceId: "cal-1",
    reopenMs: 50,
  }) as ChipPoller;
  const c = new Collector();
  try {
    poller.start(c);
    await c.until(() => c.readings.length >= 1, "first reading");
    const before = c.last!;
    assert(pct(before.power, 60) > 3, `the simulated unit starts off by its gain error (${before.power} W)`);
    // trusted meter: 230 V, 60 W, I = P / V at PF 1
    const result = await calibrateDriver(poller, { voltage: 230, current: 60 / 230, power: 60 }, {
      waitRaw: (seen) => c.until(() => c.readings.length >= 2 + seen, "raw sample"),
    });
    assert(Math.abs(result.before.errorPct.power) > 3);
    for (const q of ["voltage", "current", "power"] as const) {
      assert(Math.abs(result.after.errorPct[q]) < 0.5, `${q}: ${result.after.errorPct[q]}`);
    }
    // the proof is a different load read through the new factors
    meter.setLoad(1500);
    await c.until(() => c.last!.power > 1000, "reading at the new load");
    const n = c.readings.length;
    await c.until(() => c.readings.length > n, "one more reading");
    const r = c.last!;
    assert(
      pct(r.voltage, 230) < 0.5 && pct(r.power, 1500) < 0.5 && pct(r.current, 1500 / 230) < 0.5,
      JSON.stringify(r),
    );
    return result;
  } finally {
    await poller.stop();
    await sim.stop();
  }
}

Deno.test("calibration of a BL0942 unit with a 3-5 % gain error brings V, I, P under 0.5 % (divide)", async () => {
  const r = await calibrationRun("pziot-e01", (m) => new Bl0942Sim(m, gain));
  assert(r.kind === "divide");
});

Deno.test("calibration of a CSE7766 plug (multiply factors)", async () => {
  const r = await calibrationRun("cse7766-plug", (m) => new Cse7766Sim(m, gain));
  assert(r.kind === "multiply");
});

Deno.test("calibration of a ZMAi-90 RN8209C", async () => {
  await calibrationRun("zmai-90", (m) => new Rn8209Sim(m, gain));
});
