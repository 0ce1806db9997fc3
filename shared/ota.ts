/**
 * The shapes of an OTA rollout and its per-device records, as stored (server/ota/store.ts) and as the rollout API
 * and the rollout page's island see them; plus the pure summaries both sides draw from them.
 *
 * Device states: scheduled → commanded → downloading → rebooting → verified | failed | timed_out,
 * plus skipped_offline (picked up again when the unit returns), skipped (never commanded: its chip stayed unknown)
 * and cancelled.
 */

export const DEVICE_STATES = [
  "scheduled",
  "commanded",
  "downloading",
  "rebooting",
  "verified",
  "failed",
  "timed_out",
  "skipped_offline",
  "skipped",
  "cancelled",
] as const;
export type DeviceState = typeof DEVICE_STATES[number];
export const IN_FLIGHT: readonly DeviceState[] = ["commanded", "downloading", "rebooting"];
/** not final yet: the engine still has something to do (or wait for) on these */
export const OPEN_STATES: readonly DeviceState[] = ["scheduled", ...IN_FLIGHT, "skipped_offline"];
export const ERROR_STATES: readonly DeviceState[] = ["failed", "timed_out"];
/** what retry_failed reschedules: errors, and units skipped because their chip was unknown */
export const RETRY_STATES: readonly DeviceState[] = [...ERROR_STATES, "skipped"];

export interface OtaDevice {
  rolloutId: string;
  unitId: string;
  topic: string;
  group: number;
  state: DeviceState;
  attempts: number;
  fromVersion: string | null;
  commandedAt: number | null;
  stateAt: number;
  error: string | null;
  /** the last transitions, newest last (capped) */
  log: { state: DeviceState; at: number; note?: string }[];
}

export type GroupState = "waiting" | "running" | "succeeded" | "error";
export interface RolloutGroup {
  index: number;
  name: string;
  /** share of the targets, percent */
  percent: number;
  /** percent verified at which the next group starts */
  successThreshold: number;
  /** percent failed/timed out above which the rollout pauses */
  errorThreshold: number;
  state: GroupState;
  total: number;
  /** errors present when an operator resumed after an error pause: not counted again */
  acceptedErrors?: number;
}

export type RolloutStatus = "scheduled" | "running" | "paused" | "finished" | "cancelled";

/** which units a rollout targets (the inventory filter, plus the version they run now); blank = any */
export interface RolloutFilter {
  model?: string;
  site?: string;
  tag?: string;
  chip?: string;
  /** firmware reported, exact */
  firmware?: string;
  /** substring of id, MAC, topic, location or circuit */
  q?: string;
  fromVersion?: string;
}

export interface Rollout {
  id: string;
  name: string;
  firmwareId: string;
  firmwareSha: string;
  filename: string;
  version: string;
  platform: string;
  filter: RolloutFilter;
  status: RolloutStatus;
  pauseReason: string | null;
  startAt: number;
  /**
   * daily window in minutes after local midnight in `zone` (an IANA name follows summer time, or "UTC+02:00");
   * null = any time. Rollouts stored before zones had a fixed `tzOffsetMin` instead.
   */
  window: { start: number; end: number; zone: string } | null;
  pacingPerMin: number;
  delivery: "mqtt" | "http";
  /** where units fetch the image: plain HTTP (OpenBeken's ota_http cannot do HTTPS) */
  baseUrl: string;
  verifyTimeoutMs: number;
  /** an online unit that reports no build (chip) for this long ends skipped; absent on older rollouts */
  chipTimeoutMs?: number;
  groups: RolloutGroup[];
  nextSlotAt: number;
  counts: Record<DeviceState, number>;
  total: number;
  excluded: { alreadyCurrent: number; wrongPlatform: number; noTopic: number };
  createdAt: number;
  createdBy: string;
  finishedAt: number | null;
}

/** One rollout as GET /api/rollouts/:id answers it and its page renders it. */
export interface RolloutView {
  rollout: Rollout;
  devices: OtaDevice[];
  /** why the rollout is not progressing right now, in words; empty when it is (or is over) */
  blockers?: string[];
}

/** How a progress bar and the badges group the device states. */
export type ProgressPart = "verified" | "failed" | "active" | "waiting" | "other";
export const PROGRESS_PARTS: readonly ProgressPart[] = ["verified", "failed", "active", "waiting", "other"];
export const PROGRESS_LABEL: Record<ProgressPart, string> = {
  verified: "verified",
  failed: "failed",
  active: "in progress",
  waiting: "waiting",
  other: "skipped or cancelled",
};

export function progressPart(s: DeviceState): ProgressPart {
  if (s === "verified") return "verified";
  if (ERROR_STATES.includes(s)) return "failed";
  if (IN_FLIGHT.includes(s)) return "active";
  if (s === "scheduled" || s === "skipped_offline") return "waiting";
  return "other";
}

/** Devices per progress part (of one group when `group` is given). */
export function progressOf(devices: readonly Pick<OtaDevice, "state" | "group">[], group?: number) {
  const out: Record<ProgressPart, number> & { total: number } = {
    verified: 0,
    failed: 0,
    active: 0,
    waiting: 0,
    other: 0,
    total: 0,
  };
  for (const d of devices) {
    if (group !== undefined && d.group !== group) continue;
    out[progressPart(d.state)]++;
    out.total++;
  }
  return out;
}

/** The same tally from a rollout's stored counts (the rollout list has no device records at hand). */
export function progressOfCounts(counts: Partial<Record<DeviceState, number>>) {
  const out = progressOf([]);
  for (const s of DEVICE_STATES) {
    const n = counts[s] ?? 0;
    out[progressPart(s)] += n;
    out.total += n;
  }
  return out;
}

/** The badge class (static/styles.css .badge.*) of a device state. */
export function deviceBadge(s: DeviceState): string {
  return { verified: "ok", failed: "failed", active: "running", waiting: "waiting", other: "offline" }[progressPart(s)];
}

/** The badge class of a rollout status, and of a group state. */
export const ROLLOUT_BADGE: Record<RolloutStatus, string> = {
  scheduled: "waiting",
  running: "running",
  paused: "paused",
  finished: "ok",
  cancelled: "offline",
};
export const GROUP_BADGE: Record<GroupState, string> = {
  waiting: "waiting",
  running: "running",
  succeeded: "ok",
  error: "failed",
};
