/**
 * What one OpenBeken message does to a unit's presence record: a pure step
 * function, so ingest, tests and the benchmark share the exact same logic.
 * OBK publishes one quantity per message; a `power` or energy message becomes
 * a full Reading assembled from the unit's latest values.
 */
import { CodecError } from "../../shared/errors.ts";
import { macTailFromName, type MeterQuantity, type ObkMessage } from "../../shared/openbeken/mqtt.ts";
import type { Reading } from "../../shared/telemetry.ts";
import { type ChannelQuantity, newPresence, type UnitLive, type UnitPresence } from "./presence.ts";

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
  // OpenBeken publishes P/S unclamped (src/driver/drv_bl_shared.c): an uncalibrated unit shows 1.2 and more.
  // Stored as published and flagged on the unit (power_factor_over_1); only nonsense is refused
  powerFactor: [-100, 100],
  energy: [0, Number.MAX_VALUE],
};

/**
 * A counter read as Wh that rises over 100× slower than the published power integrates to is a kWh
 * counter (flag 40, "energy in kWh") whose HA discovery never arrived: judged over at least this much
 * integrated energy, so counter resolution (1 Wh at 3 decimals of kWh) cannot fake it.
 */
const KWH_CHECK_MIN_WH = 20;
const KWH_SUSPECT_RATIO = 0.01;

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
    if (prev.warnings) unit.warnings = { ...prev.warnings };
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
      if (unit.energyUnit === "kWh") clearWarning(unit, "energy_unit_kwh_suspected"); // discovery or an operator said so
      checkEnergyRate(unit, msg, at);
      if (msg.quantity === "powerFactor") {
        if (Math.abs(msg.value) > 1) {
          warn(
            unit,
            "power_factor_over_1",
            `power factor ${msg.value} is over 1: OpenBeken publishes P/S unclamped, so this unit's voltage, ` +
              `current or power is not calibrated`,
            at,
          );
        } else clearWarning(unit, "power_factor_over_1");
      }
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

function warn(unit: UnitPresence, code: string, message: string, at: number) {
  const cur = unit.warnings?.[code];
  if (cur?.message === message) return;
  unit.warnings = { ...unit.warnings, [code]: { message, since: cur?.since ?? at } };
}

function clearWarning(unit: UnitPresence, code: string) {
  if (!unit.warnings?.[code]) return;
  const { [code]: _gone, ...rest } = unit.warnings;
  unit.warnings = rest;
}

/**
 * Compare the counter's rise with the energy the unit's own power values integrate to. Called with the
 * previous power sample before a new one replaces it, and with each counter value.
 */
function checkEnergyRate(unit: UnitPresence, msg: { quantity: string; value: number }, at: number) {
  const l = unit.live;
  if (msg.quantity === "power") {
    if (unit.energyCheck && l.power !== undefined && l.powerAt !== undefined && at > l.powerAt) {
      const dt = Math.min(at - l.powerAt, 120_000); // a gap (offline) does not count as hours at the last power
      unit.energyCheck = {
        ...unit.energyCheck,
        integratedWh: unit.energyCheck.integratedWh + (l.power * dt) / 3_600_000,
      };
    }
    return;
  }
  if (msg.quantity !== "energy" || unit.energyUnit !== "Wh") return;
  const c = unit.energyCheck;
  if (!c || msg.value < c.counterStart) {
    unit.energyCheck = { counterStart: msg.value, integratedWh: 0 };
    return;
  }
  if (c.integratedWh < KWH_CHECK_MIN_WH) return;
  const ratio = (msg.value - c.counterStart) / c.integratedWh;
  if (ratio < KWH_SUSPECT_RATIO) {
    warn(
      unit,
      "energy_unit_kwh_suspected",
      `the energy counter rose ${(msg.value - c.counterStart).toFixed(3)} while the unit's power values add up to ` +
        `${c.integratedWh.toFixed(1)} Wh: it probably counts in kWh (OpenBeken flag 40) and its Home Assistant ` +
        `discovery was never seen; set its energy unit to kWh`,
      at,
    );
  } else if (ratio > 0.5) clearWarning(unit, "energy_unit_kwh_suspected");
  unit.energyCheck = { counterStart: msg.value, integratedWh: 0 };
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
