/**
 * Presence of deployed OpenBeken units, as seen on the broker: online/offline,
 * firmware build and version, uptime and reboots, network identity, last seen,
 * and the unit's latest meter values. Written only by the OpenBeken ingest
 * (server/openbeken/ingest.ts); everyone else reads it through this module.
 *
 * Keys (this module owns them):
 *   ["obk_units", topic]          -> UnitPresence      (topic = OBK MQTT client id)
 *   ["obk_units_by_mac", mac]     -> topic             (secondary index, same commit as the record)
 *
 * For OTA verification: a unit "reconnected and reports version X"
 * when `online && version === X && bootedAt > otaStartedAt`.
 */
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import { getManyChunked } from "../kv/bulk.ts";

export type ChannelQuantity = "energy" | "power" | "voltage" | "current" | "frequency" | "powerFactor";

export interface UnitLive {
  voltage?: number;
  current?: number;
  power?: number;
  frequency?: number;
  powerFactor?: number;
  /** the unit's own cumulative counter, in Wh; absent when the unit publishes none */
  energyWh?: number;
  /** when each was last received (ms) */
  powerAt?: number;
  energyAt?: number;
  /** timestamp of the last reading made from these values (strictly increasing) */
  readingTs?: number;
}

export interface UnitPresence {
  /** MQTT base topic (= OBK client id); the record's key */
  topic: string;
  /** id of this unit's readings, history and energy (the topic, as it appears on the dashboard) */
  deviceId: string;
  online: boolean;
  firstSeen: number;
  /** any message from the unit */
  lastSeen: number;
  onlineSince: number | null;
  offlineSince: number | null;
  /** `<topic>/build` text, and its parsed USER_SW_VER ("1.18.299", "1.18.299_powerMetering") */
  build: string | null;
  /** when `build` was last received: OTA commands wait for one since the unit's latest connection */
  buildAt?: number | null;
  version: string | null;
  chip: string | null;
  /** last reported uptime (s) and when it was received */
  uptimeS: number | null;
  uptimeAt: number | null;
  /** estimated boot instant = uptimeAt − uptimeS; moves forward on every reboot */
  bootedAt: number | null;
  reboots: number;
  lastRebootAt: number | null;
  ip: string | null;
  /** lowercase, colon-separated; from `<topic>/mac`, or the 4 tail bytes (`…:8c:11:22:33`) from the long name until then */
  mac: string | null;
  host: string | null;
  /** OpenBK7231N_8C112233, from HA discovery */
  longName: string | null;
  ssid: string | null;
  rssi: number | null;
  /** energycounter unit: Wh by default, kWh when discovery says so (flag 40) */
  energyUnit: "Wh" | "kWh";
  /** TuyaMCU-style channels discovery mapped to meter quantities; factor converts the integer to W/V/A/Hz/Wh */
  channels: Record<string, { quantity: ChannelQuantity; factor: number }>;
  live: UnitLive;
  /**
   * what looks wrong about this unit's values, by code ("power_factor_over_1", "energy_unit_kwh_suspected"),
   * set and cleared by the ingest; absent on records written before it existed
   */
  warnings?: Record<string, { message: string; since: number }>;
  /**
   * counter-versus-power comparison: the counter value at the start of the window and the energy the
   * published power integrates to since then (Wh), to catch a kWh counter read as Wh
   */
  energyCheck?: { counterStart: number; integratedWh: number };
}

export const presenceKey = (topic: string): Deno.KvKey => ["obk_units", topic];
export const macIndexKey = (mac: string): Deno.KvKey => ["obk_units_by_mac", mac];

export function newPresence(topic: string, at: number): UnitPresence {
  return {
    topic,
    deviceId: topic,
    online: true,
    firstSeen: at,
    lastSeen: at,
    onlineSince: at,
    offlineSince: null,
    build: null,
    buildAt: null,
    version: null,
    chip: null,
    uptimeS: null,
    uptimeAt: null,
    bootedAt: null,
    reboots: 0,
    lastRebootAt: null,
    ip: null,
    mac: null,
    host: null,
    longName: null,
    ssid: null,
    rssi: null,
    energyUnit: "Wh",
    channels: {},
    live: {},
  };
}

/**
 * `connected` is advisory (a reboot may never show the will): a unit counts as
 * online only while it also keeps talking. OBK republishes meter values at
 * least every 60 s, so 3 minutes of silence means it is gone.
 */
export const SILENT_AFTER_MS = 3 * 60_000;

export function isUnitOnline(p: UnitPresence, now: number): boolean {
  return p.online && now - p.lastSeen < SILENT_AFTER_MS;
}

/** The presence of one unit by its MQTT topic, or null if it was never seen. */
export async function getUnitPresence(kv: Deno.Kv, topic: string): Promise<UnitPresence | null> {
  return (await kv.get<UnitPresence>(presenceKey(topic))).value;
}

/** The presence of the unit with this MAC (full "c8:47:8c:11:22:33", any case), or null. */
export async function getUnitPresenceByMac(kv: Deno.Kv, mac: string): Promise<UnitPresence | null> {
  const topic = (await kv.get<string>(macIndexKey(mac.toLowerCase()))).value;
  return topic ? await getUnitPresence(kv, topic) : null;
}

/** Every unit ever seen, by topic. */
export async function listUnitPresence(kv: Deno.Kv): Promise<UnitPresence[]> {
  const out: UnitPresence[] = [];
  for await (const e of kv.list<UnitPresence>({ prefix: ["obk_units"] })) out.push(e.value);
  return out;
}

/** Read records with their versionstamps. */
export async function loadPresence(
  kv: Deno.Kv,
  topics: string[],
): Promise<Map<string, Deno.KvEntryMaybe<UnitPresence>>> {
  const entries = await getManyChunked<UnitPresence>(kv, topics.map(presenceKey));
  return new Map(topics.map((t, i) => [t, entries[i]]));
}

/**
 * Add the write of one record to an atomic op, guarded by the versionstamp it
 * was read at (so two server instances never overwrite each other's update),
 * keeping the MAC index in the same commit. Returns the number of mutations.
 */
export function writePresence(
  op: Deno.AtomicOperation,
  next: UnitPresence,
  prev: { value: UnitPresence | null; versionstamp: string | null },
): number {
  op.check({ key: presenceKey(next.topic), versionstamp: prev.versionstamp });
  op.set(presenceKey(next.topic), next);
  let n = 1;
  const oldMac = prev.value?.mac ?? null;
  if (next.mac !== oldMac) {
    if (oldMac && isFullMac(oldMac)) {
      op.delete(macIndexKey(oldMac));
      n++;
    }
    if (next.mac && isFullMac(next.mac)) {
      op.set(macIndexKey(next.mac), next.topic);
      n++;
    }
  }
  return n;
}

const isFullMac = (mac: string) => mac.length === 17;

/**
 * Operator override of the energycounter unit, for a unit with flag 40 (kWh)
 * whose discovery never reached us. The ingest re-reads the record on its next
 * commit (the versionstamp moved). Returns false for a unit never seen.
 */
export async function setEnergyUnit(kv: Deno.Kv, topic: string, unit: "Wh" | "kWh"): Promise<boolean> {
  return await untilCommitted(`energy unit of ${topic}`, async () => {
    const cur = await kv.get<UnitPresence>(presenceKey(topic));
    if (!cur.value) return false;
    const op = kv.atomic().check(cur).set(presenceKey(topic), { ...cur.value, energyUnit: unit });
    return (await op.commit()).ok ? true : CONFLICT;
  });
}

// ---------------------------------------------------------------- one view of presence for every page

/** What every page shows about a unit's live presence (inventory table, unit page, meter and energy pages). */
export interface PresenceView {
  status: "online" | "offline" | "never seen";
  /** running version: reported live, else the last the inventory recorded */
  version: string | null;
  uptimeS: number | null;
  /** the latest of live presence and inventory observations */
  lastSeen: number | null;
  ip: string | null;
  /** the OpenBeken topic the unit speaks as (its meter and energy id), when seen */
  topic: string | null;
}

/**
 * The presence of an inventory unit: by its MQTT topic, else by its MAC (a unit whose topic
 * inventory does not know yet, or that was renamed on the device).
 */
export async function presenceOfUnit(
  kv: Deno.Kv,
  u: { topic: string | null; mac: string | null },
): Promise<UnitPresence | null> {
  const byTopic = u.topic ? await getUnitPresence(kv, u.topic) : null;
  if (byTopic) return byTopic;
  return u.mac ? await getUnitPresenceByMac(kv, u.mac) : null;
}

export function presenceView(
  p: UnitPresence | null,
  unit: { lastSeen: number | null; firmwareReported: string | null } | null,
  now: number,
): PresenceView {
  const seen = [p?.lastSeen ?? null, unit?.lastSeen ?? null].filter((t): t is number => t !== null);
  return {
    status: p ? (isUnitOnline(p, now) ? "online" : "offline") : seen.length ? "offline" : "never seen",
    version: p?.version ?? unit?.firmwareReported ?? null,
    uptimeS: p && isUnitOnline(p, now) && p.uptimeS !== null && p.uptimeAt !== null
      ? p.uptimeS + Math.max(0, Math.round((now - p.uptimeAt) / 1000))
      : null,
    lastSeen: seen.length ? Math.max(...seen) : null,
    ip: p?.ip ?? null,
    topic: p?.topic ?? null,
  };
}
