import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { TuyaMcuPoller } from "../../edge-agent/drivers/tuyamcu.ts";
import { TuyaMcuSim } from "../../edge-agent/sim/tuyamcu.ts";
import { PhysicalMeter } from "../../edge-agent/sim/physics.ts";
import { getProfile } from "../../shared/profiles/mod.ts";
import { Collector } from "./helpers.ts";

const fast = { heartbeatMs: 150, retryMs: 60, missedHeartbeats: 3, wifiStateMs: 5000, burstGapMs: 60 };

Deno.test("TuyaMCU driver runs the handshake against the SPM02 simulator on a pty and reads 3 phases", async () => {
  const meter = new PhysicalMeter({ loadW: [13, 27, 54], powerFactor: 0.59, energyWh: 1710 });
  const sim = new TuyaMcuSim("spm02", meter, undefined, { reportMs: 400 }).start();
  const poller = new TuyaMcuPoller({
    port: sim.path,
    deviceId: "spm-1",
    profile: getProfile("spm02-v2"),
    timing: fast,
    reopenMs: 50,
  });
  const c = new Collector();
  try {
    poller.start(c);
    await c.until(() => c.readings.some((r) => r.phases?.length === 3), "a 3-phase reading");
    const r = c.readings.find((r) => r.phases?.length === 3)!;
    assertEquals(r.phases!.map((p) => p.power), [13, 27, 54]);
    assertEquals(r.phases!.map((p) => p.voltage), [230, 230, 230]);
    for (const [k, p] of r.phases!.entries()) assertAlmostEquals(p.current, [13, 27, 54][k] / (230 * 0.59), 0.001);
    assertEquals([r.power, r.frequency, r.powerFactor], [94, 50, 0.59]);
    assertEquals(r.energyWh, 1710);
    // the device saw the real handshake, in order
    const firsts = sim.received.filter((c, i, a) => a.indexOf(c) === i);
    // (query state 0x08 follows unless the MCU starts reporting on its own first, as it may once told "cloud")
    assertEquals(firsts.slice(0, 4), [0x00, 0x01, 0x02, 0x03]);
    assertEquals(sim.wifiState, 4);
    assert(poller.product?.includes("g5n4t0"));
  } finally {
    await poller.stop();
    await sim.stop();
  }
});

Deno.test("TuyaMCU driver survives bad checksums, noise, silence and an MCU reboot", async () => {
  const meter = new PhysicalMeter({ loadW: 60 });
  const sim = new TuyaMcuSim("smr1", meter, undefined, { reportMs: 300 }).start();
  const poller = new TuyaMcuPoller({
    port: sim.path,
    deviceId: "smr-1",
    profile: getProfile("smr1-zmb9"),
    timing: fast,
    reopenMs: 50,
  });
  const c = new Collector();
  try {
    poller.start(c);
    await c.until(() => c.readings.length > 0, "first reading");
    sim.faults.badChecksums = 3;
    sim.faults.noisyReplies = 3;
    await c.until(() => c.events.some((e) => e.code === "checksum"), "checksum event");
    const before = c.readings.length;
    await c.until(() => c.readings.length > before + 1, "readings after corrupted frames");

    sim.faults.silent = true;
    await c.until(() => c.events.some((e) => e.code === "silent"), "silence noticed");
    sim.faults.silent = false;
    const afterSilence = c.readings.length;
    await c.until(() => c.readings.length > afterSilence, "readings after silence");

    sim.reboot(100);
    await c.until(
      () => c.events.some((e) => e.code === "mcu_reset" || e.code === "silent") && sim.wifiState === 4,
      "re-handshake after reboot",
    );
    meter.setLoad(120);
    await c.until(() => c.last!.power === 120, "reading after reboot reflects the new load");
    assertEquals(c.last!.voltage, 230);
    assertAlmostEquals(c.last!.current, 120 / 230, 0.001);
    assert(c.events.every((e) => e.level !== "error"), JSON.stringify(c.events.filter((e) => e.level === "error")));
  } finally {
    await poller.stop();
    await sim.stop();
  }
});

Deno.test("TuyaMCU driver switches the DIN-rail meter's relay (dp16) and reads its 10-byte raw dp6", async () => {
  const meter = new PhysicalMeter({ loadW: 20 });
  const sim = new TuyaMcuSim("din", meter, undefined, { reportMs: 300 }).start();
  const poller = new TuyaMcuPoller({
    port: sim.path,
    deviceId: "din-1",
    profile: getProfile("din-rail-tuyamcu"),
    timing: fast,
    reopenMs: 50,
  });
  const c = new Collector();
  try {
    poller.start(c);
    await c.until(() => c.readings.length > 0 && poller.state.relay === true, "first reading, relay on");
    assertEquals([c.last!.voltage, c.last!.power], [230, 20]);
    poller.setRelay(false);
    await c.until(() => poller.state.relay === false, "relay reported off");
    assertEquals(sim.relay, false);
    assert(sim.received.includes(0x06));
  } finally {
    await poller.stop();
    await sim.stop();
  }
});
