/**
 * What one OpenBeken message does to a unit's presence record: a pure step
 * function, so ingest, tests and the benchmark share the exact same logic.
 * OBK publishes one quantity per message; a `power` or energy message becomes
 * a full Reading assembled from the unit's latest values.
 */
import { CodecError } from "../../shared/errors.ts";
import { macTailFromName, type MeterQuantity, type ObkMessage } from "../../shared/openbeken/mqtt.ts";
import type { Reading } from "../../shared/telemetry.ts";
import { type ChannelQuantity, newPresence, type UnitLive, type UnitPresence } from "../db/presence.ts";

export type UnitChange = "discovered" | "identified" | "online" | "offline" | "rebooted" | "version";

export interface UnitEvent {
  change: UnitChange;
  previousVersion?: string | null;
}

/** A sample for energy accounting: the reading, plus the unit's own counter when it has one. */
export interface UnitSample {
  reading: Reading;
  /** cumulative Wh when this message was the unit's counter; null for a power message */
  counterWh: number | null;
  /** the unit has a counter of its own, so power must not be integrated on top */
  hasCounter: boolean;
  /** boot time from uptime, so a counter drop after a reboot reads as lost flash vars */
  bootedAt: number | null;
}

export interface StepResult {
  unit: UnitPresence;
  sample: UnitSample | null;
  events: UnitEvent[];
}

/**
 * A reboot is a boot estimate (receive time − uptime) later than the last one
 * by more than whole-second truncation and delivery jitter can explain; kept
 * small so a quick second reboot (an OTA retry) is still seen.
 */
const BOOT_JITTER_MS = 10_000;

const DISCOVERY_CLASSES: Record<string, ChannelQuantity> = {
  energy: "energy",
  power: "power",
  voltage: "voltage",
  current: "current",
  frequency: "frequency",
  power_factor: "powerFactor",
};

const liveField: Record<ChannelQuantity | MeterQuantity, keyof UnitLive | null> = {
  voltage: "voltage",
  current: "current",
  power: "power",
  frequency: "frequency",
  powerFactor: "powerFactor",
  energy: "energyWh",
  apparentPower: null,
  reactivePower: null,
};

/** The agents' reading bounds (shared/telemetry.ts), so an uncalibrated unit (CSE7766 shows 10⁴ A) is refused, not charted. */
const BOUNDS: Partial<Record<string, [number, number]>> = {
  voltage: [0, 1000],
  current: [0, 1000],
  power: [-1e6, 1e6],
  frequency: [0, 100],
  powerFactor: [-1, 1],
  energy: [0, Number.MAX_VALUE],
};

function checkRange(quantity: string, value: number) {
  const b = BOUNDS[quantity];
  if (b && !(value >= b[0] && value <= b[1])) {
    throw new CodecError("out_of_range", `${quantity} ${value} outside the reading's bounds`);
  }
}

export function applyObkMessage(prev: UnitPresence | null, msg: ObkMessage, at: number): StepResult {
  const events: UnitEvent[] = [];
  let unit: UnitPresence;
  if (prev) {
    unit = { ...prev, live: { ...prev.live }, channels: { ...prev.channels } };
  } else {
    unit = newPresence(msg.topic, at);
    events.push({ change: "discovered" });
    if (msg.kind === "discovery" || (msg.kind === "connected" && !msg.online)) {
      // a retained discovery config or will says nothing about the unit being up now
      unit.online = false;
      unit.onlineSince = null;
      unit.offlineSince = msg.kind === "connected" ? at : null;
    }
  }
  if (msg.kind !== "discovery") unit.lastSeen = at;
  const deviceTalking = msg.kind !== "discovery" && msg.kind !== "connected";
  if (deviceTalking && !unit.online) setOnline(unit, true, at, events);

  let sample: UnitSample | null = null;
  switch (msg.kind) {
    case "connected":
      if (msg.online !== unit.online || !prev) setOnline(unit, msg.online, at, prev ? events : []);
      break;
    case "build": {
      const before = unit.version;
      unit.build = msg.build.raw;
      unit.buildAt = at;
      unit.version = msg.build.version;
      unit.chip = msg.build.chip ?? unit.chip;
      if (before !== msg.build.version) events.push({ change: "version", previousVersion: before });
      break;
    }
    case "state":
      switch (msg.item) {
        case "mac":
          unit.mac = msg.value as string;
          break;
        case "ip":
          unit.ip = msg.value as string;
          break;
        case "host":
          unit.host = msg.value as string;
          break;
        case "ssid":
          unit.ssid = msg.value as string;
          break;
        case "rssi":
          unit.rssi = msg.value as number;
          break;
        case "uptime":
          updateUptime(unit, msg.value as number, at, events);
          break;
        default:
          break; // temp, freeheap, datetime, sockets: not kept
      }
      break;
    case "meter":
      sample = updateLive(
        unit,
        msg.quantity,
        msg.quantity === "energy" && unit.energyUnit === "kWh" ? msg.value * 1000 : msg.value,
        at,
      );
      break;
    case "channel": {
      const map = unit.channels[String(msg.channel)];
      if (map) sample = updateLive(unit, map.quantity, msg.value * map.factor, at);
      break;
    }
    case "discovery": {
      const d = msg.discovery;
      unit.longName = d.longName ?? unit.longName;
      if (!unit.mac && d.longName) unit.mac = macTailFromName(d.longName);
      if (!unit.version && d.version) unit.version = d.version;
      unit.chip = unit.chip ?? d.chip;
      unit.ip = unit.ip ?? d.ip;
      const st = d.stateTopic ?? "";
      if (st === `${unit.topic}/energycounter/get` || st === `${unit.topic}/energycounter`) {
        if (d.unit === "kWh" || d.unit === "Wh") unit.energyUnit = d.unit;
      }
      const ch = new RegExp(`^${escapeRe(unit.topic)}/(\\d{1,2})/get$`).exec(st);
      const quantity = d.deviceClass ? DISCOVERY_CLASSES[d.deviceClass] : undefined;
      if (ch && quantity && d.component === "sensor") {
        unit.channels[ch[1]] = { quantity, factor: d.scale * (quantity === "energy" && d.unit === "kWh" ? 1000 : 1) };
      }
      break;
    }
  }
  if (unit.mac && unit.mac !== (prev?.mac ?? null)) events.push({ change: "identified" });
  return { unit, sample, events };
}

function setOnline(unit: UnitPresence, online: boolean, at: number, events: UnitEvent[]) {
  unit.online = online;
  if (online) {
    unit.onlineSince = at;
    unit.offlineSince = null;
  } else {
    unit.offlineSince = at;
    unit.onlineSince = null;
  }
  events.push({ change: online ? "online" : "offline" });
}

/** Reboots are detected from uptime, not `connected`: a reboot may never show the LWT (openbeken.md §1.1). */
function updateUptime(unit: UnitPresence, uptimeS: number, at: number, events: UnitEvent[]) {
  const bootedAt = at - uptimeS * 1000;
  const rebooted = unit.uptimeS !== null && unit.bootedAt !== null &&
    (uptimeS < unit.uptimeS || bootedAt - unit.bootedAt > BOOT_JITTER_MS);
  if (rebooted) {
    unit.reboots++;
    unit.lastRebootAt = bootedAt;
    events.push({ change: "rebooted" });
  }
  // keep the earliest estimate within one boot: later trickles only add jitter
  unit.bootedAt = rebooted || unit.bootedAt === null ? bootedAt : Math.min(unit.bootedAt, bootedAt);
  unit.uptimeS = uptimeS;
  unit.uptimeAt = at;
}

function updateLive(
  unit: UnitPresence,
  quantity: ChannelQuantity | MeterQuantity,
  value: number,
  at: number,
): UnitSample | null {
  const field = liveField[quantity];
  if (!field) return null;
  checkRange(quantity, value);
  (unit.live as Record<string, number>)[field] = value;
  if (quantity !== "power" && quantity !== "energy") return null;
  if (quantity === "power") unit.live.powerAt = at;
  else unit.live.energyAt = at;
  // one reading per instant: two messages in the same millisecond get distinct, ordered timestamps
  const ts = Math.max(at, (unit.live.readingTs ?? 0) + 1);
  unit.live.readingTs = ts;
  const l = unit.live;
  const reading: Reading = {
    deviceId: unit.deviceId,
    ts,
    voltage: l.voltage ?? 0,
    current: l.current ?? 0,
    power: l.power ?? 0,
    energyWh: l.energyWh ?? 0,
    ...(l.frequency !== undefined ? { frequency: l.frequency } : {}),
    ...(l.powerFactor !== undefined ? { powerFactor: l.powerFactor } : {}),
  };
  return {
    reading,
    counterWh: quantity === "energy" ? value : null,
    hasCounter: l.energyWh !== undefined,
    bootedAt: unit.bootedAt,
  };
}

function escapeRe(s: string) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
