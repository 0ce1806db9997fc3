/**
 * OTA rollouts in KV: the rollout (groups, thresholds, pacing, window,
 * status) and one record per target device with its state machine. Every
 * piece of rollout state lives here, so a restarted server (or a second
 * instance) continues where the last one stopped.
 *
 * Keys (this module owns them):
 *   ["rollout", rolloutId]                           -> Rollout
 *   ["rollout_device", rolloutId, unitId]            -> OtaDevice
 *   ["ota_command_ledger", rolloutId, unitId, attempt] -> { at }   (exists once per command ever sent: never twice)
 *   ["ota_by_unit", unitId, createdAt, rolloutId]    -> true       (a unit's OTA history)
 *   ["rollouts_active", rolloutId]                   -> true       (what the engine drives)
 *   ["ota_url_token", rolloutId, unitId]             -> { token, attempt } (the latest command's download secret)
 *
 * Device states: scheduled → commanded → downloading → rebooting → verified | failed | timed_out,
 * plus skipped_offline (picked up again when the unit returns), skipped (never commanded: its chip stayed unknown)
 * and cancelled.
 */
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import { DomainError, type ErrorCode } from "../http/errors.ts";
import { z } from "zod";
import { auditOp } from "../kv/audit.ts";
import { randomSecret } from "../auth/crypto.ts";
import type { Firmware } from "../firmware/store.ts";
import type { Unit } from "../inventory/units.ts";
import { fixedZone, wallMinuteOfDay, type Zone, zoneByName, ZoneError } from "../../shared/zone.ts";

// the shapes are shared with the rollout page's island (shared/ota.ts); the server re-exports them
export {
  DEVICE_STATES,
  type DeviceState,
  ERROR_STATES,
  type GroupState,
  IN_FLIGHT,
  OPEN_STATES,
  type OtaDevice,
  RETRY_STATES,
  type Rollout,
  type RolloutGroup,
  type RolloutStatus,
} from "../../shared/ota.ts";
import {
  DEVICE_STATES,
  type DeviceState,
  ERROR_STATES,
  type OtaDevice,
  RETRY_STATES,
  type Rollout,
} from "../../shared/ota.ts";

/** how long an online unit may go without reporting its build (hence its chip) before it is skipped */
export const DEFAULT_CHIP_TIMEOUT_MS = 120_000;

const groupSpec = z.object({
  name: z.string().trim().min(1).max(40),
  percent: z.number().min(0.1).max(100),
  successThreshold: z.number().min(0).max(100).default(80),
  errorThreshold: z.number().min(0).max(100).default(10),
});

export const rolloutInput = z.object({
  name: z.string().trim().min(1).max(80),
  firmwareId: z.string().min(1).max(40),
  filter: z.object({
    model: z.string().max(60).optional(),
    site: z.string().max(80).optional(),
    tag: z.string().max(40).optional(),
    fromVersion: z.string().max(40).optional(),
    q: z.string().max(80).optional(),
  }).default({}),
  startAt: z.number().int().nonnegative().optional(),
  window: z.object({
    start: z.string().regex(/^\d\d:\d\d$/),
    end: z.string().regex(/^\d\d:\d\d$/),
    /** IANA zone, e.g. Europe/Berlin; default: the installation's zone */
    timeZone: z.string().max(64).optional(),
    /** a fixed UTC offset instead of a zone */
    tzOffsetMin: z.number().int().min(-840).max(840).optional(),
  }).nullable().optional(),
  groups: z.array(groupSpec).min(1).max(20).default([
    { name: "canary", percent: 5, successThreshold: 100, errorThreshold: 0 },
    { name: "early", percent: 25, successThreshold: 80, errorThreshold: 10 },
    { name: "rest", percent: 70, successThreshold: 80, errorThreshold: 10 },
  ]),
  pacingPerMin: z.number().min(0.1).max(100_000).default(60),
  delivery: z.enum(["mqtt", "http"]).default("mqtt"),
  baseUrl: z.string().regex(
    /^http:\/\/[^\s/]+(:\d+)?\/?$/,
    "plain http://host[:port]: OpenBeken cannot fetch over HTTPS",
  ).optional(),
  verifyTimeoutMs: z.number().int().min(1000).max(24 * 3600_000).default(10 * 60_000),
  chipTimeoutMs: z.number().int().min(1000).max(24 * 3600_000).default(DEFAULT_CHIP_TIMEOUT_MS),
}).refine((r) => Math.abs(r.groups.reduce((s, g) => s + g.percent, 0) - 100) < 0.01, {
  message: "group percentages must add up to 100",
  path: ["groups"],
});
export type RolloutInput = z.input<typeof rolloutInput>;
/** what createRollout takes: the checked body and who creates it (the signed-in caller) */
export type RolloutCreate = z.output<typeof rolloutInput> & { createdBy: string };

export class RolloutInputError extends DomainError {
  override name = "RolloutInputError";
  constructor(message: string, code: ErrorCode = "invalid") {
    super(code, message);
  }
}

const hm = (s: string) => {
  const [h, m] = s.split(":").map(Number);
  if (h > 24 || m > 59) throw new RolloutInputError(`bad time ${s}`);
  return h * 60 + m;
};

/** The window's zone; a rollout stored before zones existed carries a fixed offset. */
export function windowZone(w: NonNullable<Rollout["window"]>): Zone {
  const legacy = w as { zone?: string; tzOffsetMin?: number };
  return legacy.zone ? zoneByName(legacy.zone) : fixedZone(legacy.tzOffsetMin ?? 0);
}

function windowZoneOf(w: { timeZone?: string; tzOffsetMin?: number }, installation: Zone): Zone {
  try {
    if (w.timeZone) return zoneByName(w.timeZone);
    return w.tzOffsetMin !== undefined ? fixedZone(w.tzOffsetMin) : installation;
  } catch (e) {
    if (e instanceof ZoneError) throw new RolloutInputError(`window: ${e.message}`);
    throw e;
  }
}

export function inWindow(w: Rollout["window"], now: number): boolean {
  if (!w) return true;
  const mins = wallMinuteOfDay(windowZone(w), now);
  return w.start <= w.end ? mins >= w.start && mins < w.end : mins >= w.start || mins < w.end; // crosses midnight
}

export function zeroCounts(): Record<DeviceState, number> {
  return Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceState, number>;
}

/** Split n targets into groups by percent: cumulative rounding so sizes add up to n, canary at least 1. */
export function groupSizes(n: number, percents: number[]): number[] {
  const sizes: number[] = [];
  let acc = 0, given = 0;
  for (let i = 0; i < percents.length; i++) {
    acc += percents[i];
    let upto = i === percents.length - 1 ? n : Math.round((n * acc) / 100);
    if (i === 0 && n > 0) upto = Math.max(1, upto);
    upto = Math.min(n, Math.max(given, upto));
    sizes.push(upto - given);
    given = upto;
  }
  return sizes;
}

/**
 * The units a rollout of `fw` would update among `candidates` (the filter's matches): the firmware's platform
 * (a wrong-platform image is how units get bricked), a topic to command, not already on the version, and the
 * `fromVersion` filter. Sorted by id, the order groups are filled in. Used by creation and the form's preview.
 */
export function selectTargets(
  input: { filter: { fromVersion?: string } },
  fw: Firmware,
  candidates: Unit[],
): { targets: Unit[]; excluded: Rollout["excluded"] } {
  const excluded = { alreadyCurrent: 0, wrongPlatform: 0, noTopic: 0 };
  const targets: Unit[] = [];
  for (const u of candidates) {
    if (u.chip?.toUpperCase() !== fw.platform) excluded.wrongPlatform++;
    else if (!u.topic) excluded.noTopic++;
    else if (u.firmwareReported === fw.version) excluded.alreadyCurrent++;
    else if (input.filter.fromVersion && u.firmwareReported !== input.filter.fromVersion) continue;
    else targets.push(u);
  }
  targets.sort((a, b) => a.id.localeCompare(b.id));
  return { targets, excluded };
}

/** Only RBL packages go over the air. */
export function assertOtaImage(fw: Firmware) {
  if (!fw.otaAllowed || fw.kind !== "rbl") {
    throw new RolloutInputError(`${fw.filename} is a ${fw.kind} image: only RBL packages may be sent over the air`);
  }
}

/**
 * Create a rollout: pick targets (the platform must match the firmware — a
 * wrong-platform image is how units get bricked), assign them to groups,
 * write devices first and the rollout record last, so a half-created rollout
 * is never driven.
 */
export async function createRollout(
  kv: Deno.Kv,
  input: RolloutCreate,
  fw: Firmware,
  candidates: Unit[],
  opts: { now: number; baseUrl: string; zone: Zone },
): Promise<Rollout> {
  assertOtaImage(fw);
  // bad input is refused before anything is written (devices go first below)
  const window = input.window
    ? { start: hm(input.window.start), end: hm(input.window.end), zone: windowZoneOf(input.window, opts.zone).name }
    : null;
  const { targets, excluded } = selectTargets(input, fw, candidates);
  if (targets.length === 0) throw new RolloutInputError("no unit matches: nothing to update");
  const sizes = groupSizes(targets.length, input.groups.map((g) => g.percent));
  const id = `r-${opts.now.toString(36)}-${crypto.randomUUID().slice(0, 6)}`;
  const devices: OtaDevice[] = [];
  let k = 0;
  sizes.forEach((size, g) => {
    for (let i = 0; i < size; i++, k++) {
      const u = targets[k];
      devices.push({
        rolloutId: id,
        unitId: u.id,
        topic: u.topic!,
        group: g,
        state: "scheduled",
        attempts: 0,
        fromVersion: u.firmwareReported,
        commandedAt: null,
        stateAt: opts.now,
        error: null,
        log: [{ state: "scheduled", at: opts.now }],
      });
    }
  });
  for (let i = 0; i < devices.length; i += 300) {
    const op = kv.atomic();
    for (const d of devices.slice(i, i + 300)) {
      op.set(["rollout_device", id, d.unitId], d);
      op.set(["ota_by_unit", d.unitId, opts.now, id], true);
    }
    if (!(await op.commit()).ok) throw new Error("rollout device commit failed");
  }
  const counts = zeroCounts();
  counts.scheduled = devices.length;
  const rollout: Rollout = {
    id,
    name: input.name,
    firmwareId: fw.id,
    firmwareSha: fw.sha256,
    filename: fw.filename,
    version: fw.version,
    platform: fw.platform,
    filter: input.filter,
    status: "scheduled",
    pauseReason: null,
    startAt: input.startAt ?? opts.now,
    window,
    pacingPerMin: input.pacingPerMin,
    delivery: input.delivery,
    baseUrl: (input.baseUrl ?? opts.baseUrl).replace(/\/$/, ""),
    verifyTimeoutMs: input.verifyTimeoutMs,
    chipTimeoutMs: input.chipTimeoutMs,
    groups: input.groups.map((g, index) => ({ ...g, index, state: "waiting", total: sizes[index] })),
    nextSlotAt: 0,
    counts,
    total: devices.length,
    excluded,
    createdAt: opts.now,
    createdBy: input.createdBy,
    finishedAt: null,
  };
  const op = kv.atomic().check({ key: ["rollout", id], versionstamp: null })
    .set(["rollout", id], rollout).set(["rollouts_active", id], true);
  auditOp(op, {
    actor: input.createdBy,
    action: "rollout.create",
    target: `rollout:${id}`,
    details: { name: rollout.name, firmware: fw.filename, targets: devices.length, groups: sizes, excluded },
  }, opts.now);
  if (!(await op.commit()).ok) throw new Error("rollout commit failed");
  return rollout;
}

export async function getRollout(kv: Deno.Kv, id: string): Promise<Deno.KvEntryMaybe<Rollout>> {
  return await kv.get<Rollout>(["rollout", id]);
}

export async function listRollouts(kv: Deno.Kv): Promise<Rollout[]> {
  const out: Rollout[] = [];
  for await (const e of kv.list<Rollout>({ prefix: ["rollout"] })) out.push(e.value);
  return out.sort((a, b) => b.createdAt - a.createdAt);
}

export async function activeRolloutIds(kv: Deno.Kv): Promise<string[]> {
  const out: string[] = [];
  for await (const e of kv.list({ prefix: ["rollouts_active"] })) out.push(e.key[1] as string);
  return out;
}

export async function listDevices(kv: Deno.Kv, rolloutId: string): Promise<Deno.KvEntry<OtaDevice>[]> {
  const out: Deno.KvEntry<OtaDevice>[] = [];
  for await (const e of kv.list<OtaDevice>({ prefix: ["rollout_device", rolloutId] }, { batchSize: 500 })) out.push(e);
  return out;
}

export async function getDevice(kv: Deno.Kv, rolloutId: string, unitId: string) {
  return await kv.get<OtaDevice>(["rollout_device", rolloutId, unitId]);
}

/** A unit's OTA history across rollouts, newest first. */
export async function unitOtaHistory(kv: Deno.Kv, unitId: string): Promise<{ rollout: Rollout; device: OtaDevice }[]> {
  const out: { rollout: Rollout; device: OtaDevice }[] = [];
  for await (const e of kv.list({ prefix: ["ota_by_unit", unitId] }, { reverse: true, limit: 50 })) {
    const rid = e.key[3] as string;
    const [r, d] = await kv.getMany<[Rollout, OtaDevice]>([["rollout", rid], ["rollout_device", rid, unitId]]);
    if (r.value && d.value) out.push({ rollout: r.value, device: d.value });
  }
  return out;
}

function pushLog(d: OtaDevice, state: DeviceState, at: number, note?: string) {
  d.log.push(note ? { state, at, note } : { state, at });
  if (d.log.length > 24) d.log.splice(0, d.log.length - 24);
}

/**
 * Move one device from one of `from` to `to`, atomically against its current
 * versionstamp. Returns the new record, or null if it was not in `from` (or
 * lost a race). `commandLedger` makes the commanded transition write-once.
 */
export async function transitionDevice(
  kv: Deno.Kv,
  entry: Deno.KvEntryMaybe<OtaDevice>,
  from: readonly DeviceState[],
  to: DeviceState,
  opts: { now: number; note?: string; error?: string; actor?: string; audit?: boolean; command?: boolean },
): Promise<OtaDevice | null> {
  const d0 = entry.value;
  if (!d0 || !from.includes(d0.state)) return null;
  const d: OtaDevice = structuredClone(d0);
  d.state = to;
  d.stateAt = opts.now;
  if (opts.error !== undefined) d.error = opts.error;
  if (to === "scheduled") d.commandedAt = null;
  const op = kv.atomic().check(entry);
  if (opts.command) {
    d.attempts++;
    d.commandedAt = opts.now;
    d.error = null;
    // the secret in this command's download URL, new with every command, kept out of the device record
    // (which every viewer reads): the OTA responder serves the image only to a request naming it
    op.set(["ota_url_token", d.rolloutId, d.unitId], { token: randomSecret(16), attempt: d.attempts });
    const ledger = ["ota_command_ledger", d.rolloutId, d.unitId, d.attempts];
    op.check({ key: ledger, versionstamp: null }).set(ledger, { at: opts.now });
  }
  pushLog(d, to, opts.now, opts.note ?? opts.error);
  op.set(["rollout_device", d.rolloutId, d.unitId], d);
  if (opts.audit) {
    auditOp(op, {
      actor: opts.actor ?? "engine",
      action: `ota.${to}`,
      target: `unit:${d.unitId}`,
      details: {
        rollout: d.rolloutId,
        attempt: d.attempts,
        ...(opts.note ? { note: opts.note } : {}),
        ...(opts.error ? { error: opts.error } : {}),
      },
    }, opts.now);
  }
  return (await op.commit()).ok ? d : null;
}

/** The download secret of a device's latest command (null before its first command). */
export async function getOtaUrlToken(
  kv: Deno.Kv,
  rolloutId: string,
  unitId: string,
): Promise<{ token: string; attempt: number } | null> {
  return (await kv.get<{ token: string; attempt: number }>(["ota_url_token", rolloutId, unitId])).value;
}

/** Retry a transition against fresh reads until it applies or the device is no longer in `from`. */
export async function transitionDeviceFresh(
  kv: Deno.Kv,
  rolloutId: string,
  unitId: string,
  from: readonly DeviceState[],
  to: DeviceState,
  opts: Parameters<typeof transitionDevice>[4],
): Promise<OtaDevice | null> {
  for (let i = 0; i < 10; i++) {
    const e = await getDevice(kv, rolloutId, unitId);
    if (!e.value || !from.includes(e.value.state)) return null;
    const r = await transitionDevice(kv, e, from, to, opts);
    if (r) return r;
  }
  return null;
}

/** Save engine-derived rollout fields; false when an operator changed the rollout meanwhile (next tick redoes it). */
export async function saveRollout(
  kv: Deno.Kv,
  entry: Deno.KvEntryMaybe<Rollout>,
  next: Rollout,
  audits: Parameters<typeof auditOp>[1][] = [],
  now = Date.now(),
): Promise<boolean> {
  const op = kv.atomic().check(entry).set(["rollout", next.id], next);
  if (next.status === "finished" || next.status === "cancelled") op.delete(["rollouts_active", next.id]);
  else op.set(["rollouts_active", next.id], true);
  for (const a of audits) auditOp(op, a, now);
  return (await op.commit()).ok;
}

export type RolloutAction = "pause" | "resume" | "cancel" | "retry_failed";

/**
 * Operator actions. Pause keeps in-flight devices tracked and commands no
 * more; resume clears a group's error; cancel stops new commands for good
 * (scheduled/offline devices become cancelled); retry_failed reschedules
 * only failed, timed-out and skipped (chip unknown) devices, as new attempts.
 */
export async function rolloutAction(
  kv: Deno.Kv,
  id: string,
  action: RolloutAction,
  actor: string,
  now: number,
): Promise<Rollout> {
  const first = (await getRollout(kv, id)).value;
  if (!first) throw new RolloutInputError(`no such rollout ${id}`, "not_found");
  if (action === "retry_failed") {
    if (first.status === "cancelled") throw new RolloutInputError("cannot retry a cancelled rollout", "conflict");
    // devices first, rollout status second: the engine must never see "running" with nothing left to do and finish it
    for (const e of await listDevices(kv, id)) {
      if (RETRY_STATES.includes(e.value.state)) {
        await transitionDeviceFresh(kv, id, e.value.unitId, RETRY_STATES, "scheduled", {
          now,
          note: `retry by ${actor}`,
        });
      }
    }
  }
  return await untilCommitted("rollout action", async () => {
    const entry = await getRollout(kv, id);
    const r = entry.value!;
    const next: Rollout = structuredClone(r);
    if (action === "pause") {
      if (r.status !== "running" && r.status !== "scheduled") {
        throw new RolloutInputError(`cannot pause a ${r.status} rollout`, "conflict");
      }
      next.status = "paused";
      next.pauseReason = `paused by ${actor}`;
    } else if (action === "resume") {
      if (r.status !== "paused") throw new RolloutInputError(`cannot resume a ${r.status} rollout`, "conflict");
      next.status = "running";
      next.pauseReason = null;
      const errors = new Map<number, number>();
      for (const e of await listDevices(kv, id)) {
        if (ERROR_STATES.includes(e.value.state)) errors.set(e.value.group, (errors.get(e.value.group) ?? 0) + 1);
      }
      for (const g of next.groups) {
        if (g.state === "error") g.state = "running";
        g.acceptedErrors = errors.get(g.index) ?? 0;
      }
    } else if (action === "cancel") {
      if (r.status === "finished" || r.status === "cancelled") {
        throw new RolloutInputError(`the rollout is already ${r.status}`, "conflict");
      }
      next.status = "cancelled";
      next.finishedAt = now;
    } else {
      next.status = r.status === "scheduled" ? "scheduled" : "running";
      next.pauseReason = null;
      next.finishedAt = null;
      for (const g of next.groups) {
        if (g.state === "error") g.state = "running";
        g.acceptedErrors = 0;
      }
    }
    const audit = { actor, action: `rollout.${action}`, target: `rollout:${id}` };
    if (!(await saveRollout(kv, entry, next, [audit], now))) return CONFLICT;
    if (action === "cancel") {
      // rollout first (the engine stops commanding), then the devices that were still waiting
      const from: DeviceState[] = ["scheduled", "skipped_offline"];
      for (const e of await listDevices(kv, id)) {
        if (from.includes(e.value.state)) {
          await transitionDeviceFresh(kv, id, e.value.unitId, from, "cancelled", {
            now,
            note: `cancelled by ${actor}`,
          });
        }
      }
    }
    return next;
  });
}
