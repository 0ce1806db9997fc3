import { assertEquals, assertThrows } from "@std/assert";
import { CodecError } from "../../shared/errors.ts";
import { macTailFromName, parseBuild, parseObkMessage } from "../../shared/openbeken/mqtt.ts";

Deno.test("OBK meter topics (the self-test stream in openbeken.md §1.2) parse to quantities", () => {
  assertEquals(parseObkMessage("obk8C112233/voltage/get", "230.0"), {
    kind: "meter",
    topic: "obk8C112233",
    quantity: "voltage",
    value: 230,
  });
  assertEquals(parseObkMessage("obk8C112233/current/get", "0.260"), {
    kind: "meter",
    topic: "obk8C112233",
    quantity: "current",
    value: 0.26,
  });
  assertEquals(parseObkMessage("obk8C112233/power/get", "60.00"), {
    kind: "meter",
    topic: "obk8C112233",
    quantity: "power",
    value: 60,
  });
  assertEquals(parseObkMessage("obk8C112233/138/get", "50.00"), {
    kind: "meter",
    topic: "obk8C112233",
    quantity: "frequency",
    value: 50,
  });
  assertEquals(parseObkMessage("obk8C112233/energycounter/get", "63.888")?.kind, "meter");
  // flag 50 drops the /get suffix
  assertEquals(parseObkMessage("obk8C112233/power", "12.5"), {
    kind: "meter",
    topic: "obk8C112233",
    quantity: "power",
    value: 12.5,
  });
  // flag 33 prints %f
  assertEquals(parseObkMessage("obk8C112233/voltage/get", "232.600006"), {
    kind: "meter",
    topic: "obk8C112233",
    quantity: "voltage",
    value: 232.600006,
  });
  assertEquals(parseObkMessage("obk8C112233/1/get", "1"), {
    kind: "channel",
    topic: "obk8C112233",
    channel: 1,
    value: 1,
  });
  assertEquals(parseObkMessage("obk8C112233/connected", "online"), {
    kind: "connected",
    topic: "obk8C112233",
    online: true,
  });
});

Deno.test("OBK self-state items, build strings old and new, MAC names", () => {
  assertEquals(parseObkMessage("obk8C112233/mac", "C8:47:8C:11:22:33"), {
    kind: "state",
    topic: "obk8C112233",
    item: "mac",
    value: "c8:47:8c:11:22:33",
  });
  assertEquals(parseObkMessage("obk8C112233/uptime", "653"), {
    kind: "state",
    topic: "obk8C112233",
    item: "uptime",
    value: 653,
  });
  assertEquals(parseObkMessage("obk8C112233/ip", "192.168.1.50")?.kind, "state");
  const b = parseBuild("OpenBK7231N 1.18.299 Jul  4 2026 10:41:55"); // __DATE__ double space
  assertEquals([b.version, b.semver, b.variant, b.chip], ["1.18.299", "1.18.299", null, "BK7231N"]);
  const v = parseBuild("OpenBK7231T 1.18.299_powerMetering Jul 24 2026 10:41:55");
  assertEquals([v.semver, v.variant, v.chip], ["1.18.299", "powerMetering", "BK7231T"]);
  assertEquals(parseBuild("Build on Jan 10 2024 09:00:01 version 1.17.400").version, "1.17.400");
  assertEquals(parseBuild("OpenBK7231N main_1a2b3c4d5e6f Jul 24 2026 10:41:55").semver, null);
  assertEquals(macTailFromName("OpenBK7231N_8C112233"), "8c:11:22:33");
  assertEquals(macTailFromName("obk8C112233"), "8c:11:22:33");
  assertEquals(macTailFromName("zmai90"), null);
});

Deno.test("HA discovery config (openbeken.md §2) gives the unit, its energy unit and channel scaling", () => {
  const energy = parseObkMessage(
    "homeassistant/sensor/OpenBK7231N_8C112233_sensor_3/config",
    `{"dev":{"ids":["OpenBK7231N_8C112233"],"name":"obk8C112233","sw":"1.18.299","mf":"Beken Corporation","mdl":"BK7231N","cu":"http://192.168.1.50/index"},"name":"Energy Total","~":"obk8C112233","avty_t":"~/connected","uniq_id":"OpenBK7231N_8C112233_sensor_3","qos":1,"dev_cla":"energy","stat_t":"~/energycounter/get","stat_cla":"total_increasing","unit_of_meas":"kWh"}`,
  );
  if (energy?.kind !== "discovery") throw new Error("expected discovery");
  assertEquals(energy.discovery.unitTopic, "obk8C112233");
  assertEquals(energy.discovery.stateTopic, "obk8C112233/energycounter/get");
  assertEquals([energy.discovery.unit, energy.discovery.ip, energy.discovery.version, energy.discovery.chip], [
    "kWh",
    "192.168.1.50",
    "1.18.299",
    "BK7231N",
  ]);
  const ch = parseObkMessage(
    "homeassistant/sensor/OpenBK7231N_8C112233_sensor_5/config",
    `{"dev":{"ids":["OpenBK7231N_8C112233"]},"name":"Energy","~":"obk8C112233","avty_t":"~/connected","uniq_id":"OpenBK7231N_8C112233_sensor_5","qos":1,"dev_cla":"energy","unit_of_meas":"kWh","stat_cla":"total_increasing","stat_t":"~/5/get","val_tpl":"{{ '%0.3f'|format(float(value)*0.01) }}"}`,
  );
  if (ch?.kind !== "discovery") throw new Error("expected discovery");
  assertEquals([ch.discovery.stateTopic, ch.discovery.scale], ["obk8C112233/5/get", 0.01]);
});

Deno.test("garbage on known OBK topics is a CodecError; unknown topics and /get requests are ignored", () => {
  const bad: [string, string, string][] = [
    ["u1/power/get", "nan", "bad_number"],
    ["u1/power/get", "12,5", "bad_number"],
    ["u1/power/get", "1e3", "bad_number"],
    ["u1/voltage/get", "inf", "bad_number"],
    ["u1/connected", "maybe", "bad_connected"],
    ["u1/build", "hello", "bad_build"],
    ["u1/mac", "c8:47:8c:11:22", "bad_mac"],
    ["u1/ip", "300.1.1.1", "bad_ip"],
    ["u1/uptime", "-3", "bad_number"],
    ["homeassistant/sensor/x/config", "{not json", "bad_json"],
    ["homeassistant/sensor/x/config", `{"name":"no topic"}`, "bad_discovery"],
  ];
  for (const [t, p, code] of bad) {
    const e = assertThrows(() => parseObkMessage(t, p), CodecError);
    assertEquals(e.code, code, `${t} ${p}`);
  }
  assertEquals(parseObkMessage("u1/power/get", ""), null); // a republish request from another client
  assertEquals(parseObkMessage("u1/led_dimmer/get", "50"), null);
  assertEquals(parseObkMessage("u1/1/set", "1"), null);
  assertEquals(parseObkMessage("cmnd/u1/POWER", "ON"), null);
  assertEquals(parseObkMessage("u1/tm/raw/17", "0400001E"), null);
  assertEquals(parseObkMessage("meterfleet/v1/agents/a/telemetry", "x"), null);
});
