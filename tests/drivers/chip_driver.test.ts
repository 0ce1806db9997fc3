import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { ChipPoller } from "../../edge-agent/drivers/chip.ts";
import { pollerForProfile } from "../../edge-agent/drivers/from_profile.ts";
import { Bl0942Sim } from "../../edge-agent/sim/bl0942.ts";
import { Cse7766Sim } from "../../edge-agent/sim/cse7766.ts";
import { Bl6552Sim, Ht7017Sim, Rn8209Sim } from "../../edge-agent/sim/register_chips.ts";
import { PhysicalMeter } from "../../edge-agent/sim/physics.ts";
import type { PtyDevice } from "../../edge-agent/sim/pty_device.ts";
import { type DeviceProfile, getProfile, parseProfile } from "../../shared/profiles/mod.ts";
import { Collector } from "./helpers.ts";

async function withPoller(profile: DeviceProfile, sim: PtyDevice, fn: (p: ChipPoller, c: Collector) => Promise<void>) {
  sim.start();
  const p = pollerForProfile(profile, { port: sim.path, deviceId: `${profile.id}-1`, reopenMs: 50 }) as ChipPoller;
  const c = new Collector();
  try {
    p.start(c);
    await fn(p, c);
  } finally {
    await p.stop();
    await sim.stop();
  }
}

/** A profile like a built-in one with a faster poll, so the suite stays short. */
function fastProfile(id: string, chip?: string): DeviceProfile {
  const p = structuredClone(getProfile(id));
  if (p.transport.kind === "chip") p.transport.pollMs = 60;
  if (chip && p.transport.kind === "chip") (p.transport as { chip: string }).chip = chip;
  return parseProfile(p);
}

const near = (a: number, b: number, pct: number) => Math.abs(a - b) <= Math.abs(b) * pct / 100;

Deno.test("BL0942 driver on a pty: 230 V / 60 W, frequency, energy across the 24-bit CF_CNT wrap", async () => {
  const meter = new PhysicalMeter({ loadW: 3000, energyWh: 0 });
  // start 3 counts below the wrap: a 3 kW load crosses it within a few polls
  await withPoller(
    fastProfile("pziot-e01"),
    new Bl0942Sim(meter, undefined, { cfStart: 0xffffff - 3 }),
    async (_p, c) => {
      await c.until(() => c.readings.length >= 2 && c.last!.energyWh > 0.9, "energy across the wrap (5+ counts)");
      const r = c.last!;
      assert(near(r.voltage, 230, 0.05) && near(r.power, 3000, 0.05), JSON.stringify(r));
      assertAlmostEquals(r.current, 3000 / 230, 0.001);
      assertEquals(r.frequency, 50);
      assert(r.energyWh < 50, `energy must not jump by a wrap: ${r.energyWh}`);
    },
  );
});

Deno.test("BL0942 driver keeps sync through bad checksums and noise", async () => {
  const sim = new Bl0942Sim(new PhysicalMeter({ loadW: 60 }));
  await withPoller(fastProfile("pziot-e01"), sim, async (_p, c) => {
    await c.until(() => c.readings.length >= 1, "first reading");
    sim.faults.badChecksums = 2;
    sim.faults.noisyReplies = 2;
    await c.until(() => c.events.some((e) => e.code === "checksum"), "checksum event");
    const n = c.readings.length;
    await c.until(() => c.readings.length >= n + 3, "readings after the faults");
    assert(near(c.last!.power, 60, 0.05));
    sim.faults.silent = true;
    await c.until(() => c.events.some((e) => e.code === "no_reply"), "silence is an event, not a crash");
    sim.faults.silent = false;
    const m = c.readings.length;
    await c.until(() => c.readings.length > m, "recovers after silence");
  });
});

Deno.test("CSE7766 driver samples the stream; F2 5A (no load) packets read as 0 W, not dropped", async () => {
  const meter = new PhysicalMeter({ loadW: 60 });
  await withPoller(fastProfile("cse7766-plug"), new Cse7766Sim(meter), async (_p, c) => {
    await c.until(() => c.readings.length >= 1, "first reading");
    assert(
      near(c.last!.voltage, 230, 0.05) && near(c.last!.power, 60, 0.05) && near(c.last!.current, 60 / 230, 0.1),
      JSON.stringify(c.last),
    );
    meter.setLoad(0);
    await c.until(() => c.last!.power === 0, "no-load reading");
    assert(near(c.last!.voltage, 230, 0.05));
  });
});

Deno.test("RN8209C driver (ZMAi-90 profile) reads V, I, P register by register", async () => {
  const meter = new PhysicalMeter({ loadW: 60 });
  const sim = new Rn8209Sim(meter);
  await withPoller(fastProfile("zmai-90"), sim, async (_p, c) => {
    await c.until(() => c.readings.length >= 2, "readings");
    const r = c.last!;
    assert(near(r.voltage, 230, 0.05) && near(r.power, 60, 0.05) && near(r.current, 60 / 230, 0.1), JSON.stringify(r));
    sim.faults.badChecksums = 2;
    await c.until(() => c.events.some((e) => e.code === "checksum"), "checksum event");
    const n = c.readings.length;
    await c.until(() => c.readings.length > n + 1, "recovers");
  });
});

Deno.test("HT7017 and BL6552 drivers read their simulators (BL6552: three phases)", async () => {
  await withPoller(fastProfile("zmai-90", "HT7017"), new Ht7017Sim(new PhysicalMeter({ loadW: 500 })), async (p, c) => {
    p.setFactors({ voltage: 10961.98, current: 1661.41, power: 3.1777 });
    await c.until(() => c.readings.length >= 2, "HT7017 readings");
    assert(
      near(c.last!.voltage, 230, 0.05) && near(c.last!.power, 500, 0.05) && c.last!.frequency === 50,
      JSON.stringify(c.last),
    );
  });
  const meter = new PhysicalMeter({ loadW: [100, 200, 400], powerFactor: 0.9 });
  await withPoller(fastProfile("zmai-90", "BL6552"), new Bl6552Sim(meter), async (p, c) => {
    p.setFactors({ voltage: 13162, current: 251210, power: 598 });
    await c.until(() => c.readings.length >= 1, "BL6552 reading");
    const r = c.last!;
    assertEquals(r.phases!.length, 3);
    for (const [k, w] of [100, 200, 400].entries()) {
      assert(
        near(r.phases![k].power, w, 0.05) && near(r.phases![k].current, w / (230 * 0.9), 0.1),
        JSON.stringify(r.phases),
      );
    }
    assert(near(r.power, 700, 0.05));
  });
});

Deno.test("a port that does not exist is an event, retried, never a crash", async () => {
  const p = pollerForProfile(getProfile("pziot-e01"), {
    port: "/dev/does-not-exist-42",
    deviceId: "ghost",
    reopenMs: 20,
  });
  const c = new Collector();
  p.start(c);
  try {
    await c.until(() => c.events.filter((e) => e.code === "port").length >= 2, "two failed opens");
    assertEquals(c.events[0].level, "error");
    assert(c.events[0].message.includes("/dev/does-not-exist-42"));
  } finally {
    await p.stop();
  }
});
