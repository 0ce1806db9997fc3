/**
 * The strict OpenBeken simulator against OpenBeken's rules (each checked here
 * from values worked out by hand from the cited source, never from the
 * server's parsers): float printing, the meter publish rule, self-state,
 * discovery, the will on OTA and on reboots, the counter across reboots.
 */
import { assert, assertEquals } from "@std/assert";
import { obkFloat, ObkPublishRule, ObkSimFleet } from "../../edge-agent/sim/openbeken.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";

Deno.test("float values print as OpenBeken's %f then cut: 231.4 arrives as 231.3", () => {
  // 231.4f = 231.399993896484375 → "%f" 231.399994 → 1 decimal kept
  assertEquals(obkFloat(231.4, 1), "231.3");
  assertEquals(obkFloat(230.0, 1), "230.0");
  // 0.1f = 0.100000001490116 → "0.100000" → 3 decimals
  assertEquals(obkFloat(0.1, 3), "0.100");
  // 1234.5678f = 1234.5677490234375 → "1234.567749" → "1234.567"
  assertEquals(obkFloat(1234.5678, 3), "1234.567");
  // 0.999 with 2 decimals is cut, not rounded
  assertEquals(obkFloat(0.999, 2), "0.99");
  assertEquals(obkFloat(Number.NaN, 2), "0.00"); // isnan → 0
  assertEquals(obkFloat(49.99, 0), "49");
});

Deno.test("the publish rule, frame by frame: a moving value at most every 6th frame, a steady one every 61st, thresholds per quantity", () => {
  const rule = new ObkPublishRule();
  const sentAt: Record<string, number[]> = {};
  for (let frame = 1; frame <= 200; frame++) {
    // voltage steady at 230.0; power climbs 1 W a frame (over its 0.25 W threshold every frame)
    for (const [name] of rule.frame({ voltage: 230, power: 100 + frame, current: 0.5 })) {
      (sentAt[name] ??= []).push(frame);
    }
  }
  // first send once 5 frames have passed (noChangeFrame starts at 0), then every 61st for a steady value
  assertEquals(sentAt.voltage, [6, 67, 128, 189]);
  assertEquals(sentAt.current, [6, 67, 128, 189]);
  // a moving value: every 6th frame (5 skipped frames in between)
  assertEquals(sentAt.power.slice(0, 4), [6, 12, 18, 24]);
  // a change under the threshold does not count: 230.0 → 230.2 V (threshold 0.25) waits for the 61-frame send
  const r2 = new ObkPublishRule();
  const v: number[] = [];
  for (let frame = 1; frame <= 70; frame++) {
    if (r2.frame({ voltage: frame < 10 ? 230 : 230.2 }).length) v.push(frame);
  }
  assertEquals(v, [6, 67]);
  // and prints what it sends the OBK way
  assertEquals(new ObkPublishRule().frame({ voltage: 231.4 }), []);
  const r3 = new ObkPublishRule();
  let got: [string, string][] = [];
  for (let i = 0; i < 6; i++) got = r3.frame({ voltage: 231.4 });
  assertEquals(got, [["voltage", "231.3"]]);
});

Deno.test("meter values by drv_bl_shared.c's rule, self-state with temp/datetime/sockets, HA discovery, all from the unit's own topics", async () => {
  const srv = await startTestServer();
  const frameMs = 20;
  const topic = "obk8C100001"; // the simulator's first unit (MAC index 1)
  const seen: { topic: string; payload: string; at: number }[] = [];
  // listening before the unit connects: the self-state items are not retained
  await srv.server.ctx.mqtt.subscribe("#", (t, payload) => {
    if (t.startsWith(topic + "/") || t.startsWith("homeassistant/")) {
      seen.push({ topic: t, payload: new TextDecoder().decode(payload), at: Date.now() });
    }
  });
  const fleet = await ObkSimFleet.start({
    count: 1,
    brokerUrl: srv.brokerUrl,
    credentials: (t) => srv.deviceCredentials(t),
    meterIntervalMs: frameMs,
    itemGapMs: 0,
    uncalibratedPf: 1.2,
  });
  const u = fleet.units[0];
  try {
    assertEquals(u.topic, topic);
    await new Promise((r) => setTimeout(r, 200 * frameMs)); // > 3 × 61 frames
    const meter = [
      "voltage",
      "current",
      "power",
      "138",
      "power_apparent",
      "power_reactive",
      "power_factor",
      "energycounter",
      "energycounter_last_hour",
    ];
    for (const q of meter) {
      const msgs = seen.filter((m) => m.topic === `${u.topic}/${q}/get`);
      assert(msgs.length >= 1, `${q}: no message`);
      const decimals = { voltage: 1, current: 3, power: 2, energycounter: 3, energycounter_last_hour: 3 }[q] ?? 2;
      for (const m of msgs) assert(new RegExp(`^-?\\d+\\.\\d{${decimals}}$`).test(m.payload), `${q} ${m.payload}`);
    }
    // every subscription OpenBeken makes is granted, including its platform's default group's `/set`
    assertEquals(u.refusedSubscriptions, []);
    // an uncalibrated unit: P/S published unclamped
    const pf = seen.filter((m) => m.topic === `${u.topic}/power_factor/get`).map((m) => Number(m.payload));
    assert(pf.every((x) => x > 1.1), pf.join(","));
    const items = seen.filter((m) => !m.topic.endsWith("/get") && m.topic.startsWith(u.topic)).map((m) =>
      m.topic.slice(u.topic.length + 1)
    );
    assertEquals(items.filter((i) => i !== "connected"), [
      "host",
      "build",
      "mac",
      "temp",
      "ssid",
      "datetime",
      "sockets",
      "rssi",
      "uptime",
      "freeheap",
      "ip",
    ]);
    const disc = seen.filter((m) => m.topic.startsWith("homeassistant/sensor/"));
    assertEquals(disc.length, 9);
    for (const d of disc) {
      assert(d.topic.startsWith(`homeassistant/sensor/${u.longName}_sensor_`), d.topic);
      assertEquals(JSON.parse(d.payload)["~"], u.topic);
    }
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("an OTA drops MQTT without DISCONNECT (the will `offline` at once); a reboot leaves the old session hanging until the unit takes its client id back; the energy counter survives both", async () => {
  const srv = await startTestServer();
  const fleet = await ObkSimFleet.start({
    count: 1,
    brokerUrl: srv.brokerUrl,
    credentials: (t) => srv.deviceCredentials(t),
    meterIntervalMs: 20,
    itemGapMs: 0,
    bootMs: 1500,
    rebootDelayMs: 0,
    haDiscovery: false,
  });
  const u = fleet.units[0];
  const connected: { v: string; at: number }[] = [];
  const energy: number[] = [];
  try {
    await srv.server.ctx.mqtt.subscribe(`${u.topic}/connected`, (_t, p) => {
      connected.push({ v: new TextDecoder().decode(p), at: Date.now() });
    });
    await srv.server.ctx.mqtt.subscribe(`${u.topic}/energycounter/get`, (_t, p) => {
      energy.push(Number(new TextDecoder().decode(p)));
    });
    await waitFor(() => energy.length >= 1 && connected.at(-1)?.v === "online", { what: "the unit up" });

    // ota_http to a URL that refuses: MQTT closed without DISCONNECT, so the broker sends the will now
    const t0 = Date.now();
    await srv.server.ctx.mqtt.publish(`cmnd/${u.topic}/ota_http`, "http://127.0.0.1:9/x.rbl", { qos: 1 });
    const off = await waitFor(() => connected.find((c) => c.at >= t0 && c.v === "offline"), { what: "the will" });
    assert(off.at - t0 < 10_000, `will after ${off.at - t0} ms (a keep-alive expiry would take 150 s)`);
    await waitFor(() => u.reboots === 1 && connected.at(-1)?.v === "online", { what: "back after the reboot" });
    const beforeRestart = energy.at(-1)!;

    // `restart`: a power cut to the network. No will while it boots (1.5 s here), then the takeover brings it
    const t1 = Date.now();
    await srv.server.ctx.mqtt.publish(`cmnd/${u.topic}/restart`, "", { qos: 1 });
    await new Promise((r) => setTimeout(r, 1000));
    assertEquals(connected.filter((c) => c.at >= t1 && c.v === "offline"), [], "no will while the old session hangs");
    assert(u.reboots === 2 && !u.online, "still booting");
    await waitFor(() => u.reboots === 2 && u.online, { what: "rebooted and reconnected" });
    // the takeover ends the hanging session: the broker publishes its will then, and the new session says online
    await waitFor(() => connected.filter((c) => c.at >= t1).map((c) => c.v).join(",").includes("offline,online"), {
      what: "the will at takeover, then online again",
    });
    await waitFor(() => energy.at(-1)! > beforeRestart, { what: "the counter going on from where it was" });
    // the counter never went back after either reboot
    for (let i = 1; i < energy.length; i++) assert(energy[i] >= energy[i - 1], `${energy[i - 1]} → ${energy[i]}`);
  } finally {
    await fleet.stop();
    await srv.close();
  }
});
