/**
 * OpenBeken's configuration sector (`mainConfig_t`), built on the bench so a
 * freshly flashed unit joins Wi-Fi/MQTT at first boot instead of opening an AP.
 *
 * Layout and checksum from public sources (facts only, no code copied):
 *  - openshwprojects/OpenBK7231T_App `src/new_pins.h` (mainConfig_t field order and
 *    offsets, e.g. "mqtt_port at offs 0x294", "pins at offs 0x33E"), `src/new_cfg.c`
 *    (ident 'C','F','G'; checksum = Tiny_CRC8 over [version .. end of config)),
 *    `src/httpserver/new_http.c` (htmlPinRoleNames: role index ↔ short name).
 *  - openshwprojects/BK7231GUIFlashTool `BK7231Flasher/Misc/OBKConfig.cs` (version 4 →
 *    3584 bytes, initCommandLine 1568 bytes at 0x5E0, defaults), `Misc/OBKFlashLayout.cs`
 *    (sector 0x1D1000 on BK7231N, 0x1E1000 on BK7231T), `CRC.cs` (Beken configs use the
 *    signed-char variant of Tiny_CRC8: arithmetic shifts, polynomial 0x8C).
 * Pure code; decoding errors are CodecError.
 */

/** OpenBeken's default MQTT group per platform: every unit also subscribes `cmnd/<group>/+`. */
export const OBK_PLATFORM_GROUPS = { bk7231n: "bekens_n", bk7231t: "bekens_t" } as const;
import { CodecError } from "./errors.ts";

export const OBK_CONFIG_VERSION = 4;
export const OBK_CONFIG_SIZE = 3584;
export const OBK_SECTOR_SIZE = 4096;

const OFF = {
  crc: 0x03,
  version: 0x04,
  genericFlags: 0x08,
  genericFlags2: 0x0c,
  wifiSsid: [0x14, 64],
  wifiPass: [0x54, 64],
  mqttHost: [0x94, 256],
  mqttClientId: [0x194, 64],
  mqttUser: [0x1d4, 64],
  mqttPass: [0x214, 128],
  mqttPort: 0x294,
  webappRoot: [0x298, 64],
  mac: 0x2d8,
  shortName: [0x2de, 32],
  longName: [0x2fe, 64],
  pinRoles: 0x33e,
  pinChannels: 0x35e,
  pinChannels2: 0x37e,
  channelTypes: 0x39e,
  ntpServer: [0x478, 32],
  buttonShort: 0x4b8,
  buttonLong: 0x4b9,
  buttonRepeat: 0x4ba,
  mqttGroup: [0x554, 64],
  bootSuccessTime: 0x597,
  pingHost: [0x5a0, 64],
  initCommandLine: [0x5e0, 1568],
} as const;

/** OBK pin roles by index (htmlPinRoleNames order = ioRole_e enum order). */
export const OBK_PIN_ROLES = [
  "None",
  "Rel",
  "Rel_n",
  "Btn",
  "Btn_n",
  "LED",
  "LED_n",
  "PWM",
  "WifiLED",
  "WifiLED_n",
  "Btn_Tgl_All",
  "Btn_Tgl_All_n",
  "dInput",
  "dInput_n",
  "TglChanOnTgl",
  "dInput_NoPullUp",
  "dInput_NoPullUp_n",
  "BL0937SEL",
  "BL0937CF",
  "BL0937CF1",
  "ADC",
  "SM2135DAT",
  "SM2135CLK",
  "BP5758D_DAT",
  "BP5758D_CLK",
  "BP1658CJ_DAT",
  "BP1658CJ_CLK",
  "PWM_n",
  "IRRecv",
  "IRSend",
  "Btn_NextColor",
  "Btn_NextColor_n",
  "Btn_NextDimmer",
  "Btn_NextDimmer_n",
  "AlwaysHigh",
  "AlwaysLow",
  "UCS1912_DIN",
  "SM16703P_DIN",
  "Btn_NextTemperature",
  "Btn_NextTemperature_n",
  "Btn_ScriptOnly",
  "Btn_ScriptOnly_n",
  "DHT11",
  "DHT12",
  "DHT21",
  "DHT22",
  "CHT83XX_SDA",
  "CHT83XX_SCK",
  "SHT3X_SDA",
  "SHT3X_SCK",
  "SoftSDA",
  "SoftSCL",
  "SM2235DAT",
  "SM2235CLK",
  "BridgeFWD",
  "BridgeREV",
  "Btn_SmartLED",
  "Btn_SmartLED_n",
  "DoorSnsrWSleep",
  "DoorSnsrWSleep_nPup",
  "BAT_ADC",
  "BAT_Relay",
  "TM1637_DIO",
  "TM1637_CLK",
  "BL0937SEL_n",
  "DoorSnsrWSleep_pd",
  "SGP_CLK",
  "SGP_DAT",
  "ADC_Button",
  "GN6932_CLK",
  "GN6932_DAT",
  "GN6932_STB",
  "TM1638_CLK",
  "TM1638_DAT",
  "TM1638_STB",
  "BAT_Relay_n",
  "KP18058_CLK",
  "KP18058_DAT",
  "DS1820_IO",
] as const;

export function pinRoleIndex(name: string): number {
  const i = OBK_PIN_ROLES.findIndex((r) => r.toLowerCase() === name.toLowerCase());
  if (i < 0) throw new CodecError("OBK_ROLE", `unknown OpenBeken pin role "${name}"`);
  return i;
}

/**
 * Tiny_CRC8 (Dallas/Maxim CRC-8, reflected polynomial 0x8C, init 0). `signed`
 * mimics C `char` being signed: right shifts copy bit 7, as the GUI flasher
 * does for Beken configs. With `signed=false` it is plain CRC-8/MAXIM.
 */
export function tinyCrc8(data: Uint8Array, signed: boolean): number {
  let crc = 0;
  for (const byte of data) {
    let extract = byte;
    for (let k = 0; k < 8; k++) {
      const sum = (crc ^ extract) & 1;
      crc = signed ? ((crc >> 1) | (crc & 0x80)) & 0xff : crc >> 1;
      if (sum) crc ^= 0x8c;
      extract = signed ? ((extract >> 1) | (extract & 0x80)) & 0xff : extract >> 1;
    }
  }
  return crc & 0xff;
}

export interface ObkConfigInput {
  chip: "bk7231n" | "bk7231t";
  wifiSsid: string;
  wifiPassword: string;
  mqttHost: string;
  mqttPort?: number;
  mqttUser?: string;
  mqttPassword?: string;
  /** MQTT client id = base topic (one setting in OBK). Default obk + 4 MAC bytes. */
  mqttTopic?: string;
  mqttGroup?: string;
  mac?: string;
  shortName?: string;
  longName?: string;
  /** pin → role name as OBK spells it (device profile `gpio`) */
  pins?: Record<string | number, string>;
  /** pin → channel (device profile `channels`) */
  channels?: Record<string | number, number>;
  /** Startup command line (OBK "short startup command"), e.g. `backlog startDriver BL0942` */
  startupCommand?: string;
  ntpServer?: string;
}

/** OBK's default names: 4 MAC bytes (2..5), uppercase hex (new_cfg.c CFG_SetDefaultConfig). */
export function defaultNames(chip: string, mac?: string) {
  const bytes = mac ? mac.split(/[:-]/).map((h) => parseInt(h, 16)) : [];
  const tail = bytes.length === 6
    ? bytes.slice(2).map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join("")
    : "00000000";
  return { short: `obk${tail}`, long: `Open${chip.toUpperCase()}_${tail}` };
}

/** A full 4 KiB sector: the 3584-byte config, then erased flash (0xFF). */
export function buildObkConfig(c: ObkConfigInput): Uint8Array {
  const sector = new Uint8Array(OBK_SECTOR_SIZE).fill(0xff);
  const cfg = new Uint8Array(OBK_CONFIG_SIZE);
  const v = new DataView(cfg.buffer);
  const str = ([off, len]: readonly [number, number], s: string, what: string) => {
    const b = new TextEncoder().encode(s);
    if (b.length >= len) throw new CodecError("OBK_FIELD", `${what} is ${b.length} bytes; at most ${len - 1} fit`);
    cfg.set(b, off);
  };
  const names = defaultNames(c.chip, c.mac);
  cfg.set([0x43, 0x46, 0x47]); // "CFG"
  v.setInt32(OFF.version, OBK_CONFIG_VERSION, true);
  v.setInt32(OFF.genericFlags, 1 << 10, true); // flag 10: broadcast self state on MQTT connect (OBK default)
  str(OFF.wifiSsid, c.wifiSsid, "Wi-Fi SSID");
  str(OFF.wifiPass, c.wifiPassword, "Wi-Fi password");
  str(OFF.mqttHost, c.mqttHost, "MQTT host");
  str(OFF.mqttClientId, c.mqttTopic ?? names.short, "MQTT topic");
  str(OFF.mqttUser, c.mqttUser ?? "homeassistant", "MQTT user");
  str(OFF.mqttPass, c.mqttPassword ?? "", "MQTT password");
  v.setInt32(OFF.mqttPort, c.mqttPort ?? 1883, true);
  str(OFF.webappRoot, "https://openbekeniot.github.io/webapp/", "webapp root");
  if (c.mac) {
    const m = c.mac.split(/[:-]/).map((h) => parseInt(h, 16));
    if (m.length !== 6 || m.some((x) => !(x >= 0 && x <= 255))) throw new CodecError("OBK_FIELD", `bad MAC ${c.mac}`);
    cfg.set(m, OFF.mac);
  }
  str(OFF.shortName, c.shortName ?? names.short, "short device name");
  str(OFF.longName, c.longName ?? names.long, "device name");
  for (const [pin, role] of Object.entries(c.pins ?? {})) {
    const p = Number(pin);
    if (!(p >= 0 && p < 32)) throw new CodecError("OBK_FIELD", `pin ${pin} out of range`);
    cfg[OFF.pinRoles + p] = pinRoleIndex(role);
  }
  for (const [pin, ch] of Object.entries(c.channels ?? {})) cfg[OFF.pinChannels + Number(pin)] = ch;
  str(OFF.ntpServer, c.ntpServer ?? "217.147.223.78", "NTP server");
  cfg[OFF.buttonShort] = 3;
  cfg[OFF.buttonLong] = 10;
  cfg[OFF.buttonRepeat] = 5;
  str(OFF.mqttGroup, c.mqttGroup ?? OBK_PLATFORM_GROUPS[c.chip], "MQTT group");
  cfg[OFF.bootSuccessTime] = 5;
  str(OFF.pingHost, "", "ping host");
  str(OFF.initCommandLine, c.startupCommand ?? "", "startup command");
  cfg[OFF.crc] = tinyCrc8(cfg.subarray(4), true);
  sector.set(cfg);
  return sector;
}

export interface ObkConfigView {
  version: number;
  wifiSsid: string;
  mqttHost: string;
  mqttPort: number;
  mqttTopic: string;
  mqttUser: string;
  shortName: string;
  longName: string;
  mac: string;
  pins: Record<number, string>;
  channels: Record<number, number>;
  startupCommand: string;
}

/** Read a config sector back (tests, and recognising an OpenBeken unit in a backup). Secrets are not returned. */
export function parseObkConfig(sector: Uint8Array): ObkConfigView {
  if (sector.length < 8 || sector[0] !== 0x43 || sector[1] !== 0x46 || sector[2] !== 0x47) {
    throw new CodecError("OBK_MAGIC", "not an OpenBeken config (no CFG header)");
  }
  const v = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  const version = v.getInt32(OFF.version, true);
  const size = version <= 3 ? 2016 : OBK_CONFIG_SIZE;
  if (sector.length < size) throw new CodecError("OBK_SHORT", `config needs ${size} bytes`);
  const crc = tinyCrc8(sector.subarray(4, size), true);
  if (crc !== sector[OFF.crc]) {
    throw new CodecError("OBK_CRC", `config checksum 0x${sector[3].toString(16)} ≠ 0x${crc.toString(16)}`);
  }
  const str = ([off, len]: readonly [number, number]) => {
    const b = sector.subarray(off, off + len);
    const end = b.indexOf(0);
    return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
  };
  const pins: Record<number, string> = {}, channels: Record<number, number> = {};
  for (let p = 0; p < 32; p++) {
    const r = sector[OFF.pinRoles + p];
    if (r) pins[p] = OBK_PIN_ROLES[r] ?? `role${r}`;
    if (sector[OFF.pinChannels + p]) channels[p] = sector[OFF.pinChannels + p];
  }
  return {
    version,
    wifiSsid: str(OFF.wifiSsid),
    mqttHost: str(OFF.mqttHost),
    mqttPort: v.getInt32(OFF.mqttPort, true),
    mqttTopic: str(OFF.mqttClientId),
    mqttUser: str(OFF.mqttUser),
    shortName: str(OFF.shortName),
    longName: str(OFF.longName),
    mac: [...sector.subarray(OFF.mac, OFF.mac + 6)].map((b) => b.toString(16).padStart(2, "0")).join(":"),
    pins,
    channels,
    startupCommand: version <= 3 ? "" : str(OFF.initCommandLine),
  };
}

/**
 * Per-unit MQTT credentials derived from one fleet secret: user = topic,
 * password = HMAC-SHA256(secret, topic), base64url, 24 chars. The broker side
 * derives the same from the topic, so no per-unit password list is kept.
 */
export async function unitMqttCredentials(secret: string, topic: string): Promise<{ user: string; password: string }> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(topic)));
  const b64 = btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return { user: topic, password: b64.slice(0, 24) };
}
