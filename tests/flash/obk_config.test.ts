import { assertEquals, assertThrows } from "@std/assert";
import {
  buildObkConfig,
  parseObkConfig,
  pinRoleIndex,
  tinyCrc8,
  unitMqttCredentials,
} from "../../shared/obk-config.ts";
import { provisioning, startupFromAutoexec } from "../../edge-agent/flash/provision.ts";
import { CodecError } from "../../shared/errors.ts";

Deno.test("obk config: Tiny_CRC8 — unsigned form is CRC-8/MAXIM; the signed-char form Beken configs use differs", () => {
  const check = new TextEncoder().encode("123456789");
  assertEquals(tinyCrc8(check, false), 0xa1); // CRC-8/MAXIM check value
  // signed char: the register's bit 7 is copied on every shift once 0x8C has been XORed in
  assertEquals(tinyCrc8(check, true), 0x63); // derived from the GUI flasher's sbyte arithmetic
  assertEquals(tinyCrc8(new Uint8Array([0x00]), true), 0);
});

Deno.test("obk config: layout offsets from new_pins.h / OBKConfig.cs, checksum, round trip", () => {
  const sector = buildObkConfig({
    chip: "bk7231n",
    mac: "c8:47:8c:11:22:33",
    wifiSsid: "house",
    wifiPassword: "pw-123",
    mqttHost: "10.0.0.2",
    mqttPort: 1884,
    mqttUser: "obk8C112233",
    mqttPassword: "s3cret",
    pins: { 6: "WifiLED_n", 7: "Btn", 14: "BridgeFWD", 16: "BridgeREV", 26: "LED" },
    channels: { 7: 1, 14: 1, 16: 1 },
    startupCommand: "backlog startDriver RN8209",
  });
  assertEquals(sector.length, 4096);
  const t = new TextDecoder();
  assertEquals(t.decode(sector.subarray(0, 3)), "CFG");
  assertEquals(new DataView(sector.buffer).getInt32(4, true), 4); // version
  assertEquals(t.decode(sector.subarray(0x14, 0x19)), "house");
  assertEquals(t.decode(sector.subarray(0x94, 0x9c)), "10.0.0.2");
  assertEquals(new DataView(sector.buffer).getInt32(0x294, true), 1884);
  assertEquals(sector[0x33e + 6], 9); // WifiLED_n
  assertEquals(sector[0x33e + 14], pinRoleIndex("BridgeFWD"));
  assertEquals(sector[0x35e + 7], 1);
  assertEquals(sector[3], tinyCrc8(sector.subarray(4, 3584), true));
  assertEquals(sector[3584], 0xff); // rest of the sector stays erased
  const v = parseObkConfig(sector);
  assertEquals(v.mqttTopic, "obk8C112233"); // OBK default: obk + MAC bytes 2..5
  assertEquals(v.longName, "OpenBK7231N_8C112233");
  assertEquals(v.mac, "c8:47:8c:11:22:33");
  assertEquals(v.pins[16], "BridgeREV");
  assertEquals(v.startupCommand, "backlog startDriver RN8209");
  // any flipped byte is caught
  sector[0x100] ^= 1;
  assertEquals(assertThrows(() => parseObkConfig(sector), CodecError).code, "OBK_CRC");
  assertThrows(
    () => buildObkConfig({ chip: "bk7231t", wifiSsid: "x".repeat(64), wifiPassword: "", mqttHost: "h" }),
    CodecError,
  );
  assertThrows(
    () =>
      buildObkConfig({ chip: "bk7231t", wifiSsid: "x", wifiPassword: "", mqttHost: "h", pins: { 3: "NoSuchRole" } }),
    CodecError,
  );
});

Deno.test("obk config: provisioning from a profile, per-unit MQTT credentials derived from the topic", async () => {
  const forUnit = provisioning({
    wifi: { ssid: "house", password: "pw" },
    mqtt: { host: "mqtt.local", unitSecret: "fleet-secret" },
    profile: "zmai-90",
    deviceName: "ZMAi-90 {mac}",
  });
  const a = parseObkConfig((await forUnit({ chip: "bk7231n", mac: "c8:47:8c:00:00:01" }))!);
  const b = parseObkConfig((await forUnit({ chip: "bk7231n", mac: "c8:47:8c:00:00:02" }))!);
  assertEquals(a.mqttTopic, "obk8C000001");
  assertEquals(a.mqttUser, "obk8C000001");
  assertEquals(b.mqttUser, "obk8C000002");
  assertEquals(a.pins[6], "WifiLED_n");
  assertEquals(a.longName, "ZMAi-90 8C000001");
  const credsA = await unitMqttCredentials("fleet-secret", "obk8C000001");
  assertEquals(credsA.password.length, 24);
  assertEquals((await unitMqttCredentials("fleet-secret", "obk8C000002")).password === credsA.password, false);
  assertEquals(
    startupFromAutoexec("startDriver RN8209\n// note\nVoltageSet 230\n"),
    "backlog startDriver RN8209; VoltageSet 230",
  );
});
