/**
 * What an operator sees before and during a rollout:
 * - `previewRollout`: the units a rollout would update, before it exists (count, list with group, chip and
 *   version as inventory and the unit itself report them, online/offline), so Start is pressed knowingly;
 * - `rolloutBlockers`: why a rollout that exists is not progressing, in words ("4 units never seen online since
 *   the rollout started", "waiting for the maintenance window 22:00–05:00 (Europe/Berlin)").
 */
import type { Firmware } from "../firmware/store.ts";
import {
  DEFAULT_CHIP_TIMEOUT_MS,
  groupSizes,
  inWindow,
  type OtaDevice,
  type Rollout,
  selectTargets,
  windowZone,
} from "./store.ts";
import type { Unit } from "../inventory/units.ts";
import type { OtaPresence, PresenceSource } from "./presence.ts";

export interface PreviewUnit {
  unitId: string;
  topic: string;
  group: string;
  /** what inventory says */
  chip: string | null;
  /** what the unit said in its last build, if ever */
  reportedChip: string | null;
  version: string | null;
  online: boolean;
  lastSeen: number | null;
}

export interface RolloutPreview {
  firmware: { filename: string; platform: string; version: string };
  count: number;
  groups: { name: string; percent: number; size: number }[];
  chips: Record<string, number>;
  versions: Record<string, number>;
  online: number;
  offline: number;
  neverSeen: number;
  excluded: Rollout["excluded"];
  units: PreviewUnit[];
}

const tally = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

export async function previewRollout(
  input: { filter: { fromVersion?: string }; groups: { name: string; percent: number }[] },
  fw: Firmware,
  candidates: Unit[],
  presence: PresenceSource,
): Promise<RolloutPreview> {
  const { targets, excluded } = selectTargets(input, fw, candidates);
  const sizes = groupSizes(targets.length, input.groups.map((g) => g.percent));
  const seen = await presence.load(targets.map((u) => u.topic!));
  const out: RolloutPreview = {
    firmware: { filename: fw.filename, platform: fw.platform, version: fw.version },
    count: targets.length,
    groups: input.groups.map((g, i) => ({ name: g.name, percent: g.percent, size: sizes[i] })),
    chips: {},
    versions: {},
    online: 0,
    offline: 0,
    neverSeen: 0,
    excluded,
    units: [],
  };
  let k = 0;
  sizes.forEach((size, g) => {
    for (let i = 0; i < size; i++, k++) {
      const u = targets[k];
      const p = seen.get(u.topic!);
      const version = p?.version ?? u.firmwareReported;
      tally(out.chips, p?.chip ?? u.chip ?? "unknown");
      tally(out.versions, version ?? "unknown");
      if (!p) out.neverSeen++;
      else if (p.online) out.online++;
      else out.offline++;
      out.units.push({
        unitId: u.id,
        topic: u.topic!,
        group: input.groups[g].name,
        chip: u.chip,
        reportedChip: p?.chip ?? null,
        version,
        online: !!p?.online,
        lastSeen: p?.lastSeen ?? null,
      });
    }
  });
  return out;
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
const units = (n: number) => (n === 1 ? "1 unit" : `${n} units`);

/** Reasons a rollout is not moving right now; empty when it is (or when it is over). */
export function rolloutBlockers(
  r: Rollout,
  devices: OtaDevice[],
  presence: Map<string, OtaPresence>,
  now: number,
): string[] {
  const out: string[] = [];
  if (r.status === "finished" || r.status === "cancelled") return out;
  if (r.status === "scheduled" && now < r.startAt) {
    out.push(`scheduled: starts at ${new Date(r.startAt).toISOString().slice(0, 16).replace("T", " ")} UTC`);
  }
  if (r.status === "paused") out.push(`paused: ${r.pauseReason ?? "by an operator"}`);
  if (r.window && !inWindow(r.window, now)) {
    out.push(
      `waiting for the maintenance window ${hhmm(r.window.start)}–${hhmm(r.window.end)} (${windowZone(r.window).name})`,
    );
  }
  const open = new Set(r.groups.filter((g) => g.state === "running" || g.state === "succeeded").map((g) => g.index));
  let neverSeen = 0, offline = 0, noChip = 0;
  for (const d of devices) {
    if (!open.has(d.group) || (d.state !== "scheduled" && d.state !== "skipped_offline")) continue;
    const p = presence.get(d.topic);
    if (!p || (!p.online && p.lastSeen < r.startAt)) neverSeen++;
    else if (!p.online) offline++;
    else if (!p.chip || p.buildAt === null || (p.onlineSince !== null && p.buildAt < p.onlineSince)) noChip++;
  }
  if (neverSeen) out.push(`${units(neverSeen)} never seen online since the rollout started`);
  if (offline) out.push(`${units(offline)} offline: each is updated when it comes back`);
  if (noChip) {
    const s = Math.round((r.chipTimeoutMs ?? DEFAULT_CHIP_TIMEOUT_MS) / 1000);
    out.push(`${units(noChip)} online but not yet reporting their chip (build): skipped after ${s} s`);
  }
  const waiting = r.groups.find((g) => g.state === "waiting");
  const running = r.groups.find((g) => g.state === "running");
  if (r.status === "running" && waiting && running) {
    out.push(
      `group "${waiting.name}" waits for "${running.name}" to reach ${running.successThreshold} % verified`,
    );
  }
  return out;
}
