/**
 * What a stock BK7231 backup says about its device: module, pins, TuyaMCU link, product and
 * firmware keys, versions and the datapoint schema, read from Tuya's encrypted store
 * (store.ts). Facts about the keys: `gw_di` (device info JSON: `pk`, `firmk`, `swv`,
 * `dev_swv`, `s_id`, `mst_tp_N`/`mst_ver_N`), `user_param_key` (pins, upk.ts), `baud_cfg`
 * (`{"baud":9600}` on TuyaMCU devices), the schema under the id `gw_di.s_id` names,
 * `gw_wsm` (Wi-Fi credentials: only whether an SSID is set is looked at, never the password).
 * Secrets in `gw_bi` (uuid, psk_key, auth_key) are never read into the result.
 *
 * Pure and synchronous. A dump with no store is a result (`found: false`); a dump that is not
 * a BK7231 flash image at all, or cut short, is a CodecError.
 */
import { CodecError } from "../errors.ts";
import { identifyBackup } from "../bk7231/chips.ts";
import { readTuyaStore, SECTOR, type StoreEntry } from "./store.ts";
import { parseUserParamKey, type UpkValue } from "./upk.ts";
import { isGpio, PIN_RULES, type PinFunction } from "./pins.ts";

export interface BackupPin {
  /** The Tuya key, e.g. `rl1_pin`. */
  key: string;
  gpio: number;
  fn: PinFunction;
  meaning: string;
  activeLevel?: "high" | "low";
  /** The OpenBeken role this maps to (absent: no role in the template). */
  obkRole?: string;
  channel?: number;
}

export interface DatapointSchemaEntry {
  id: number;
  mode: string;
  type: string;
  scale?: number;
  min?: number;
  max?: number;
  step?: number;
  unit?: string;
  range?: string[];
  maxlen?: number;
}

export interface SerialSettings {
  baud?: number;
  parity?: "none" | "odd" | "even";
  dataBits?: number;
  stopBits?: number;
  /** Where the value came from. */
  source: string;
}

export interface FirmwareVersions {
  /** Wi-Fi module firmware (`gw_di.swv`). */
  wifi?: string;
  /** The device's own firmware (`gw_di.dev_swv`): the MCU's version on TuyaMCU devices. */
  mcu?: string;
  /** Tuya SDK baseline / protocol versions. */
  baseline?: string;
  protocol?: string;
  lanProtocol?: string;
  /** Extra OTA channels (`mst_tp_N` type, `mst_ver_N` version). */
  channels: { type: number; version: string }[];
}

export interface BackupInspection {
  found: true;
  /** Offset of the store's key sector in this dump. */
  storeOffset: number;
  blocks: number;
  /** Every entry and block checked out. */
  complete: boolean;
  /** What did not check out (damaged sectors, bad checksums): the result is partial. */
  problems: string[];
  /** What the store does not say (no schema stored, no pins): not damage. */
  notes: string[];
  chip?: string;
  module?: string;
  category?: string;
  productKey?: string;
  firmwareKey?: string;
  versions: FirmwareVersions;
  pins: BackupPin[];
  /** Present when the Wi-Fi chip talks TuyaMCU (baud from `baud_cfg` or `user_param_key`). */
  tuyaMcu?: SerialSettings;
  /** UART settings for a metering chip on UART1 (P10 RX1 / P11 TX1), when configured. */
  uart?: SerialSettings;
  schemaId?: string;
  schema: DatapointSchemaEntry[];
  /** Other schemas in the store that `gw_di` does not name (stale). */
  staleSchemaIds: string[];
  /** Never the SSID or password themselves. */
  wifi: { ssid: "present" | "absent" | "unknown" };
  /** Non-pin `user_param_key` settings (channel dpIDs, protection limits, ...). */
  settings: Record<string, string>;
  /** Names of every entry in the store. */
  keys: string[];
}

export type InspectionResult = BackupInspection | { found: false; reason: string };

const text = (e: StoreEntry | undefined): string | undefined =>
  e && e.checksumOk ? new TextDecoder().decode(e.value).replace(/\0+$/, "") : undefined;

function json(e: StoreEntry | undefined, problems: string[]): unknown {
  const t = text(e);
  if (t === undefined) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    problems.push(`'${e!.name}' is not JSON`);
    return undefined;
  }
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v ? v : typeof v === "number" ? String(v) : undefined;
const num = (v: unknown): number | undefined => {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

const BK_SIGNATURE = [0xb5, 0x96, 0x35, 0xff, 0x2a]; // bytes 2..6 of BK7231 bootloaders as found in stock dumps
const MIN_FULL_DUMP = 0x200000;
const STORE_FLASH_OFFSET = 0x1ee000;

function looksLikeBk7231(dump: Uint8Array): boolean {
  if (identifyBackup(dump).chip) return true;
  // A dump starting at flash 0 carries the bootloader's vector table.
  return BK_SIGNATURE.every((b, i) => dump[3 + i] === b || dump[2 + i] === b);
}

/** Inspect a backup. Throws CodecError for input that is not a usable BK7231 dump. */
export function inspectBackup(dump: Uint8Array): InspectionResult {
  if (dump.length < SECTOR) {
    throw new CodecError("dump_too_short", `${dump.length} bytes is shorter than one 4 KiB flash sector`);
  }
  const store = readTuyaStore(dump);
  if (!store) {
    if (dump.length % SECTOR) {
      throw new CodecError("dump_truncated", `${dump.length} bytes is not a whole number of 4 KiB sectors`);
    }
    if (dump.length < MIN_FULL_DUMP && dump.length <= STORE_FLASH_OFFSET) {
      throw new CodecError(
        "dump_truncated",
        `the dump ends at 0x${dump.length.toString(16)}, before the Tuya store (flash 0x${
          STORE_FLASH_OFFSET.toString(16)
        })`,
      );
    }
    if (!looksLikeBk7231(dump)) {
      throw new CodecError(
        "not_bk7231",
        "no BK7231 bootloader or RF/MAC sector and no Tuya store: not a BK7231N/T flash dump",
      );
    }
    return { found: false, reason: "no Tuya config found" };
  }
  if (store.blocks === 0) {
    throw new CodecError(
      "store_unreadable",
      "a Tuya key sector is here but no data block opens with the BK7231 key: another chip family, or the store is wiped",
    );
  }
  return describe(dump, store.keyOffset, store.blocks, store.entries, store.problems);
}

function describe(
  dump: Uint8Array,
  storeOffset: number,
  blocks: number,
  entries: Map<string, StoreEntry>,
  storeProblems: string[],
): BackupInspection {
  const problems = [...storeProblems];
  const notes: string[] = [];
  const di = (json(entries.get("gw_di"), problems) ?? {}) as Record<string, unknown>;
  if (!entries.has("gw_di")) notes.push("no 'gw_di' (device info): product key and versions unknown");

  let upk: Record<string, UpkValue> = {};
  const upkText = text(entries.get("user_param_key"));
  if (upkText !== undefined) {
    try {
      upk = parseUserParamKey(upkText);
    } catch (e) {
      problems.push((e as Error).message);
    }
  } else if (!entries.has("user_param_key")) {
    notes.push(
      "no 'user_param_key' in the store: pins unknown (some firmwares keep it only inside the encrypted application)",
    );
  }
  const upkStr = (k: string) => (typeof upk[k] === "string" ? upk[k] as string : undefined);

  // pins
  const pins: BackupPin[] = [];
  const pinKeys = new Set<string>();
  for (const [key, raw] of Object.entries(upk)) {
    const rule = PIN_RULES.find((r) => r.key.test(key));
    if (!rule || typeof raw !== "string") continue;
    const gpio = num(raw);
    if (gpio === undefined || !isGpio(gpio)) {
      problems.push(`'${key}' = '${raw}' is not a GPIO number`);
      continue;
    }
    pinKeys.add(key);
    const lvKey = key.replace(/_pin$/, "_lv");
    const lv = lvKey !== key ? num(upk[lvKey]) : undefined;
    if (lv !== undefined) pinKeys.add(lvKey);
    const activeLevel = lv === undefined ? rule.defaultLevel : lv ? "high" : "low";
    const m = key.match(/\d+/);
    const channel = rule.channel === "number" && m ? Number(m[0]) : rule.channel === "one" ? 1 : undefined;
    pins.push({
      key,
      gpio,
      fn: rule.fn,
      meaning: rule.meaning + (channel !== undefined && rule.channel === "number" ? ` ${channel}` : ""),
      activeLevel,
      obkRole: rule.obk ? (activeLevel === "low" ? rule.obk[1] : rule.obk[0]) : undefined,
      channel,
    });
  }
  pins.sort((a, b) => a.gpio - b.gpio);
  const seen = new Map<number, string>();
  for (const p of pins) {
    const other = seen.get(p.gpio);
    if (other) problems.push(`GPIO ${p.gpio} is claimed by both '${other}' and '${p.key}'`);
    seen.set(p.gpio, p.key);
  }

  // serial links
  const parity = (v: unknown): SerialSettings["parity"] =>
    num(v) === 1 ? "odd" : num(v) === 2 ? "even" : num(v) === 0 ? "none" : undefined;
  const baudCfg = json(entries.get("baud_cfg"), problems) as Record<string, unknown> | undefined;
  const uartBaud = num(upkStr("uart_baud")) ?? num(upkStr("baud"));
  const uartSettings = (source: string, baud?: number): SerialSettings => ({
    baud,
    parity: parity(upkStr("uart_parity")),
    // Tuya's data-bit enum: 0..3 = 5..8 bits
    dataBits: num(upkStr("uart_databit")) !== undefined ? 5 + num(upkStr("uart_databit"))! : undefined,
    stopBits: num(upkStr("uart_stopbits")),
    source,
  });
  for (const k of ["uart_baud", "baud", "uart_parity", "uart_databit", "uart_stopbits"]) pinKeys.add(k);
  let tuyaMcu: SerialSettings | undefined;
  let uart: SerialSettings | undefined;
  // A TuyaMCU design leaves relays and metering to the MCU; a Wi-Fi chip that drives relays and
  // also has UART settings reads a metering chip (RN8209C, BL0942, ...) on UART1, usually 8E1 or 8N1 at 4800.
  const drivesHardware = pins.some((p) => p.fn.startsWith("bl0937") || p.fn.startsWith("relay"));
  const meterChip = upkStr("ele_type") ?? upkStr("ele_chip") ?? upkStr("chip_name");
  if (baudCfg && num(baudCfg.baud) !== undefined) {
    tuyaMcu = { ...uartSettings("baud_cfg"), baud: num(baudCfg.baud) };
  } else if (uartBaud !== undefined && !drivesHardware && !meterChip) {
    tuyaMcu = uartSettings("user_param_key", uartBaud);
  } else if (uartBaud !== undefined) {
    uart = uartSettings(`user_param_key${meterChip ? ` (metering chip ${meterChip})` : ""}`, uartBaud);
  }
  const dtp = num(di.dtp);
  if (!tuyaMcu && dtp && dtp !== 0 && !pins.length) {
    notes.push(`gw_di marks an MCU device (dtp ${dtp}) but no baud was stored`);
  }

  // versions
  const channels: FirmwareVersions["channels"] = [];
  for (let n = 0; n < 8; n++) {
    const t = num(di[`mst_tp_${n}`]);
    const v = str(di[`mst_ver_${n}`]);
    if (t && v) channels.push({ type: t, version: v });
  }
  const versions: FirmwareVersions = {
    wifi: str(di.swv),
    mcu: tuyaMcu ? str(di.dev_swv) : (str(di.dev_swv) !== str(di.swv) ? str(di.dev_swv) : undefined),
    baseline: str(di.bv),
    protocol: str(di.pv),
    lanProtocol: str(di.lpv),
    channels,
  };

  // schema: the one gw_di names; others are stale
  const schemaCandidates = [...entries.values()].filter((e) => isSchemaEntry(e));
  const schemaId = str(di.s_id);
  let schema: DatapointSchemaEntry[] = [];
  const named = schemaId
    ? schemaCandidates.find((e) => e.name === schemaId || e.name === `s_${schemaId}`)
    : schemaCandidates.length === 1
    ? schemaCandidates[0]
    : undefined;
  if (named) {
    schema = parseSchema(json(named, problems), problems);
    if (!schemaId) notes.push(`gw_di names no schema; the only one stored ('${named.name}') is used`);
  } else if (schemaId) {
    const bad = entries.get(schemaId) ?? entries.get(`s_${schemaId}`);
    if (bad) problems.push(`schema '${schemaId}' fails its checksum`);
    else notes.push(`gw_di names schema '${schemaId}' but it is not stored`);
  } else if (schemaCandidates.length > 1) {
    notes.push(`${schemaCandidates.length} schemas stored and gw_di names none: none used`);
  }
  const staleSchemaIds = schemaCandidates.filter((e) => e !== named).map((e) => e.name);

  // Wi-Fi: only whether an SSID is set
  let ssid: BackupInspection["wifi"]["ssid"] = "unknown";
  const wsm = entries.get("gw_wsm");
  if (wsm?.checksumOk) {
    const t = text(wsm) ?? "";
    const m = t.match(/"ssid"\s*:\s*("(?:[^"\\]|\\.)*"|null)/);
    ssid = m ? (m[1] === "null" || m[1] === '""' ? "absent" : "present") : "unknown";
  } else if (!wsm) ssid = "absent";

  const settings: Record<string, string> = {};
  for (const [k, v] of Object.entries(upk)) {
    if (pinKeys.has(k) || k === "module" || k === "category") continue;
    settings[k] = typeof v === "string" ? v : JSON.stringify(v);
  }

  const sysEnv = text(entries.get("em_sys_env"));
  return {
    found: true,
    storeOffset,
    blocks,
    complete: problems.length === 0,
    problems,
    notes,
    chip: identifyBackup(dump).chip ?? (sysEnv ? sysEnvChip(sysEnv) : undefined),
    module: upkStr("module"),
    category: upkStr("category"),
    productKey: str(di.pk) ?? upkStr("pk") ?? upkStr("product_key"),
    firmwareKey: str(di.firmk),
    versions,
    pins,
    tuyaMcu,
    uart,
    schemaId: named ? named.name.replace(/^s_/, "") : schemaId,
    schema,
    staleSchemaIds,
    wifi: { ssid },
    settings,
    keys: [...entries.keys()].sort(),
  };
}

function sysEnvChip(env: string): string | undefined {
  if (/bk7231n/i.test(env)) return "bk7231n";
  if (/BK7231S|bk7231t/i.test(env)) return "bk7231t";
  return undefined;
}

/** Schema entries are JSON lists of `{id, mode, ...}` stored under the schema id. */
function isSchemaEntry(e: StoreEntry): boolean {
  if (!e.checksumOk || e.value.length < 2) return false;
  let i = 0;
  while (i < e.value.length && e.value[i] === 0x20) i++;
  if (e.value[i] !== 0x5b) return false; // [
  const head = new TextDecoder().decode(e.value.subarray(0, 200));
  return /"mode"\s*:/.test(head) && /"id"\s*:/.test(head);
}

function parseSchema(v: unknown, problems: string[]): DatapointSchemaEntry[] {
  if (!Array.isArray(v)) {
    problems.push("the schema is not a list");
    return [];
  }
  const out: DatapointSchemaEntry[] = [];
  for (const item of v) {
    const o = item as Record<string, unknown>;
    const id = num(o?.id);
    if (id === undefined) continue;
    const p = (o.property ?? {}) as Record<string, unknown>;
    const type = str(p.type) ?? (o.type === "raw" ? "raw" : str(o.type) ?? "unknown");
    const e: DatapointSchemaEntry = { id, mode: str(o.mode) ?? "?", type };
    for (const k of ["scale", "min", "max", "step", "maxlen"] as const) {
      const n = num(p[k]);
      if (n !== undefined) e[k] = n;
    }
    const unit = str(p.unit) ?? str(o.unit);
    if (unit) e.unit = unit;
    if (Array.isArray(p.range)) e.range = p.range.map(String);
    out.push(e);
  }
  return out.sort((a, b) => a.id - b.id);
}
