import { assertEquals } from "@std/assert";
import { applyObkMessage } from "../../server/openbeken/unit.ts";
import type { UnitPresence } from "../../server/openbeken/presence.ts";
import { parseObkMessage } from "../../shared/openbeken/mqtt.ts";

function run(steps: [number, string, string][]): { unit: UnitPresence; events: string[] } {
  let unit: UnitPresence | null = null;
  const events: string[] = [];
  for (const [at, topic, payload] of steps) {
    const r = applyObkMessage(unit, parseObkMessage(topic, payload)!, at);
    unit = r.unit;
    events.push(...r.events.map((e) => e.change));
  }
  return { unit: unit!, events };
}

Deno.test("reboots from uptime: a quick second reboot counts, trickle jitter does not, a Wi-Fi reconnect does not", () => {
  const s = 1000;
  const r = run([
    [0, "u1/uptime", "600"],
    [30 * s, "u1/uptime", "630"], // same boot
    [31 * s + 900, "u1/uptime", "631"], // whole-second truncation + delivery delay
    [90 * s, "u1/uptime", "5"], // reboot: uptime fell
    [150 * s, "u1/uptime", "5"], // OTA retry a minute later: uptime did not fall, but the boot moved 60 s
    [400 * s, "u1/connected", "offline"],
    [420 * s, "u1/connected", "online"],
    [421 * s, "u1/uptime", "276"], // Wi-Fi came back, same boot
  ]);
  assertEquals(r.unit.reboots, 2);
  assertEquals(r.unit.bootedAt, 145 * s);
  assertEquals(r.events.filter((e) => e === "rebooted").length, 2);
  assertEquals(r.events.slice(-2), ["offline", "online"]);
});

Deno.test("a TuyaMCU meter's channels become readings once discovery maps them (kWh ÷100 counter, W power)", () => {
  const disc = (n: number, cls: string, unit: string, tpl: string) =>
    `{"dev":{"ids":["OpenBK7231N_11223344"]},"~":"spm02","uniq_id":"x_${n}","dev_cla":"${cls}","unit_of_meas":"${unit}","stat_t":"~/${n}/get"${
      tpl ? `,"val_tpl":"${tpl}"` : ""
    }}`;
  let unit: UnitPresence | null = null;
  const feed = (topic: string, payload: string, at: number) => {
    const r = applyObkMessage(unit, parseObkMessage(topic, payload)!, at);
    unit = r.unit;
    return r.sample;
  };
  feed("homeassistant/sensor/x_1/config", disc(1, "energy", "kWh", "{{ '%0.3f'|format(float(value)*0.01) }}"), 0);
  feed("homeassistant/sensor/x_5/config", disc(5, "power", "W", ""), 0);
  assertEquals(feed("spm02/5/get", "1500", 1000)?.reading.power, 1500);
  const s = feed("spm02/1/get", "123456", 2000)!;
  assertEquals([s.counterWh, s.hasCounter, s.reading.energyWh], [1234560, true, 1234560]);
  assertEquals(feed("spm02/7/get", "1", 3000), null); // an unmapped channel (a relay)
  assertEquals(unit!.mac, "11:22:33:44"); // tail from the long name until <topic>/mac arrives
});

Deno.test("a power factor over 1 (OpenBeken publishes P/S unclamped) is stored and flagged on the unit, not refused", () => {
  const r = run([
    [0, "u3/voltage/get", "230.1"],
    [1000, "u3/power_factor/get", "1.23"],
    [2000, "u3/power/get", "100.00"],
  ]);
  assertEquals(r.unit.live.powerFactor, 1.23);
  const w = r.unit.warnings?.power_factor_over_1;
  assertEquals(typeof w?.message, "string");
  assertEquals(w?.since, 1000);
  // calibrated later: the flag goes
  const after = applyObkMessage(r.unit, parseObkMessage("u3/power_factor/get", "0.98")!, 3000);
  assertEquals(after.unit.warnings?.power_factor_over_1, undefined);
  assertEquals(after.unit.live.powerFactor, 0.98);
});

Deno.test("a kWh counter (flag 40) whose discovery was never seen is detected from its rate against power and warned on the unit", () => {
  const steps: [number, string, string][] = [];
  // 500 W for 6 minutes = 50 Wh; a kWh counter rises 0.050
  for (let i = 0; i <= 36; i++) {
    steps.push([i * 10_000, "u4/power/get", "500.00"]);
    if (i % 6 === 0) {
      steps.push([i * 10_000 + 1, "u4/energycounter/get", (12.345 + (i * 10) * 500 / 3_600_000).toFixed(3)]);
    }
  }
  const r = run(steps);
  const w = r.unit.warnings?.energy_unit_kwh_suspected;
  assertEquals(typeof w?.message, "string", JSON.stringify(r.unit.warnings));
  assertEquals(r.unit.energyUnit, "Wh"); // a warning, not a silent guess

  // the same unit counting in Wh raises no warning
  const wh = run(steps.map(([at, t, p]) => [at, t, t.includes("energycounter") ? String(Number(p) * 1000) : p]));
  assertEquals(wh.unit.warnings?.energy_unit_kwh_suspected, undefined);
});
