/**
 * OpenBeken's MQTT texts → typed messages. Pure and strict: a topic we do not
 * know is `null` (ignored, OBK publishes many things we do not use), but a
 * known topic with a garbage payload throws CodecError so ingest can count it.
 *
 * Formats: shared/reference/openbeken.md §1.2 (self-state items have no `/get`,
 * meter values have `/get` unless flag 50), §2 (HA discovery JSON), §0 (build).
 */
import { CodecError } from "../errors.ts";

/** Meter quantities OBK's BL/CSE drivers publish as `<topic>/<name>/get`. */
export const METER_TOPICS = {
  voltage: "voltage",
  current: "current",
  power: "power",
  "138": "frequency",
  power_apparent: "apparentPower",
  power_reactive: "reactivePower",
  power_factor: "powerFactor",
  energycounter: "energy",
} as const;
export type MeterQuantity = (typeof METER_TOPICS)[keyof typeof METER_TOPICS];

/** Self-state items published without `/get`. */
const STATE_ITEMS = [
  "host",
  "build",
  "mac",
  "ip",
  "uptime",
  "ssid",
  "rssi",
  "temp",
  "freeheap",
  "datetime",
  "sockets",
] as const;
type StateItem = (typeof STATE_ITEMS)[number];

/** Unit topics are OBK client ids: one MQTT level, no wildcards. */
export const UNIT_TOPIC = /^[A-Za-z0-9_.:-]{1,64}$/;

export type ObkMessage =
  | { kind: "connected"; topic: string; online: boolean }
  | { kind: "meter"; topic: string; quantity: MeterQuantity; value: number }
  | { kind: "channel"; topic: string; channel: number; value: number }
  | { kind: "build"; topic: string; build: BuildInfo }
  | { kind: "state"; topic: string; item: Exclude<StateItem, "build">; value: string | number }
  | { kind: "discovery"; topic: string; discovery: Discovery };

export interface BuildInfo {
  /** the text as published */
  raw: string;
  /** USER_SW_VER, e.g. "1.18.299", "1.18.299_powerMetering", "main_1a2b3c4d5e6f", "BK7231N_Test" */
  version: string;
  /** semantic part without the `_variant` suffix, or null for non-release builds */
  semver: string | null;
  variant: string | null;
  /** "BK7231N" from "OpenBK7231N …"; null for the pre-2024 "Build on …" form */
  chip: string | null;
}

export interface Discovery {
  component: string;
  uniqueId: string;
  /** the unit's MQTT topic (`~`) */
  unitTopic: string;
  /** long name from dev.ids, e.g. OpenBK7231N_8C112233 */
  longName: string | null;
  shortName: string | null;
  version: string | null;
  chip: string | null;
  ip: string | null;
  deviceClass: string | null;
  unit: string | null;
  /** state topic with `~` expanded */
  stateTopic: string | null;
  /** factor the value template multiplies by (`float(value)*0.01` → 0.01), 1 when none */
  scale: number;
}

const NUMBER = /^-?(\d+(\.\d*)?|\.\d+)$/;

export function parseNumber(text: string, what: string): number {
  const t = text.trim();
  if (!NUMBER.test(t)) {
    throw new CodecError("bad_number", `${what}: not a decimal number: ${JSON.stringify(text.slice(0, 40))}`);
  }
  const n = Number(t);
  if (!Number.isFinite(n)) throw new CodecError("bad_number", `${what}: not finite`);
  return n;
}

/** `OpenBK7231N 1.18.299 Jul  4 2026 10:41:55` (since 2024-02) or `Build on Jul 24 2023 10:41:55 version 1.17.100`. */
export function parseBuild(text: string): BuildInfo {
  const raw = text.trim();
  const tokens = raw.split(/\s+/); // __DATE__ pads one-digit days with a space: never rely on fixed positions
  let version: string, chip: string | null = null;
  if (/^Buil[dt] on /.test(raw)) {
    if (tokens.length < 3 || tokens[tokens.length - 2] !== "version") {
      throw new CodecError("bad_build", `build: no version in ${JSON.stringify(raw.slice(0, 80))}`);
    }
    version = tokens[tokens.length - 1];
  } else {
    const m = /^Open([A-Z0-9]+)$/.exec(tokens[0]);
    if (!m || tokens.length < 2) {
      throw new CodecError("bad_build", `build: unrecognised ${JSON.stringify(raw.slice(0, 80))}`);
    }
    chip = m[1];
    version = tokens[1];
  }
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(version)) {
    throw new CodecError("bad_build", `build: bad version token ${JSON.stringify(version)}`);
  }
  const sv = /^(\d+\.\d+\.\d+)(?:_(.+))?$/.exec(version);
  return { raw, version, semver: sv ? sv[1] : null, variant: sv?.[2] ?? null, chip };
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseStateItem(item: Exclude<StateItem, "build">, text: string): string | number {
  const t = text.trim();
  switch (item) {
    case "mac": {
      const mac = t.toLowerCase();
      if (!MAC.test(mac)) throw new CodecError("bad_mac", `mac: ${JSON.stringify(t.slice(0, 40))}`);
      return mac;
    }
    case "ip":
      if (!IPV4.test(t) || t.split(".").some((o) => Number(o) > 255)) {
        throw new CodecError("bad_ip", `ip: ${JSON.stringify(t.slice(0, 40))}`);
      }
      return t;
    case "uptime": {
      const n = parseNumber(t, "uptime");
      if (!Number.isInteger(n) || n < 0) throw new CodecError("bad_number", `uptime: ${t}`);
      return n;
    }
    case "rssi":
    case "temp":
    case "freeheap":
    case "datetime":
    case "sockets":
      return parseNumber(t, item);
    case "host":
    case "ssid":
      if (t.length > 64) throw new CodecError("too_long", `${item}: longer than 64 characters`);
      return t;
  }
}

/** `float(value)*0.01` inside a Jinja template → 0.01 */
function templateScale(tpl: unknown): number {
  if (typeof tpl !== "string") return 1;
  const m = /float\(value\)\s*\*\s*([0-9.]+)/.exec(tpl);
  return m ? Number(m[1]) : 1;
}

export function parseDiscovery(component: string, uniqueId: string, text: string): Discovery {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text);
  } catch {
    throw new CodecError("bad_json", `discovery ${uniqueId}: not JSON`);
  }
  if (typeof j !== "object" || j === null || Array.isArray(j)) {
    throw new CodecError("bad_json", `discovery ${uniqueId}: not an object`);
  }
  const tilde = j["~"];
  if (typeof tilde !== "string" || !UNIT_TOPIC.test(tilde)) {
    throw new CodecError("bad_discovery", `discovery ${uniqueId}: no usable "~" topic`);
  }
  const dev = (typeof j.dev === "object" && j.dev !== null ? j.dev : {}) as Record<string, unknown>;
  const ids = Array.isArray(dev.ids) ? dev.ids : [];
  const str = (v: unknown) => typeof v === "string" && v.length <= 128 ? v : null;
  const expand = (t: string | null) => t === null ? null : t.startsWith("~") ? tilde + t.slice(1) : t;
  let ip: string | null = null;
  const cu = str(dev.cu);
  if (cu) {
    try {
      const host = new URL(cu).hostname;
      if (IPV4.test(host)) ip = host;
    } catch { /* a bad configuration URL is not a reason to drop the rest */ }
  }
  return {
    component,
    uniqueId,
    unitTopic: tilde,
    longName: str(ids[0]),
    shortName: str(dev.name),
    version: str(dev.sw),
    chip: str(dev.mdl),
    ip,
    deviceClass: str(j.dev_cla),
    unit: str(j.unit_of_meas),
    stateTopic: expand(str(j.stat_t)),
    scale: templateScale(j.val_tpl),
  };
}

/**
 * Parse one MQTT message. Returns null for topics that are not OpenBeken
 * device output we use (including empty `/get` requests other clients send).
 */
const utf8 = new TextDecoder("utf-8", { fatal: false });

export function parseObkMessage(topic: string, payload: Uint8Array | string): ObkMessage | null {
  const text = typeof payload === "string" ? payload : utf8.decode(payload);
  const parts = topic.split("/");
  if (parts[0] === "homeassistant") {
    if (parts.length !== 4 || parts[3] !== "config" || text.length === 0) return null;
    const d = parseDiscovery(parts[1], parts[2], text);
    return { kind: "discovery", topic: d.unitTopic, discovery: d };
  }
  if (parts.length < 2 || parts.length > 3 || !UNIT_TOPIC.test(parts[0])) return null;
  const unit = parts[0];
  const leaf = parts[1];
  const hasGet = parts.length === 3;
  if (hasGet && parts[2] !== "get") return null;
  if (text.length === 0) return null; // a republish request, not a value
  if (text.length > 512) throw new CodecError("too_long", `${topic}: payload of ${text.length} bytes`);

  if (leaf === "connected" && !hasGet) {
    if (text === "online" || text === "offline") return { kind: "connected", topic: unit, online: text === "online" };
    throw new CodecError("bad_connected", `${topic}: ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (leaf in METER_TOPICS) {
    // meter values carry /get unless flag 50 is on
    const quantity = METER_TOPICS[leaf as keyof typeof METER_TOPICS];
    return { kind: "meter", topic: unit, quantity, value: parseNumber(text, `${unit} ${quantity}`) };
  }
  if (/^\d{1,2}$/.test(leaf) && Number(leaf) < 64) {
    return { kind: "channel", topic: unit, channel: Number(leaf), value: parseNumber(text, `${unit} channel ${leaf}`) };
  }
  if (!hasGet && (STATE_ITEMS as readonly string[]).includes(leaf)) {
    if (leaf === "build") return { kind: "build", topic: unit, build: parseBuild(text) };
    const item = leaf as Exclude<StateItem, "build">;
    return { kind: "state", topic: unit, item, value: parseStateItem(item, text) };
  }
  return null;
}

/** The 4 MAC bytes in a long/short name (`OpenBK7231N_8C112233`, `obk8C112233`), lowercase "8c:11:22:33", or null. */
export function macTailFromName(name: string): string | null {
  const m = /(?:^obk|_)([0-9A-Fa-f]{8})$/.exec(name);
  return m ? m[1].toLowerCase().match(/../g)!.join(":") : null;
}
