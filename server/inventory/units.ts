/**
 * Inventory: every physical meter unit, what it is, where it hangs, what was
 * done to it (the append-only rework log) and what it runs.
 *
 * Keys (this module owns them; nothing else writes here):
 *   ["unit", unitId]                                   -> Unit
 *   ["unit_rev", unitId, rev]                          -> UnitRevision  (the record BEFORE each edit: history is never lost)
 *   ["unit_rework", unitId, seq]                       -> ReworkEntry   (append-only; seq = 1, 2, ...)
 *   ["units_by_mac", mac]                              -> unitId        (unique)
 *   ["units_by_topic", topic]                          -> unitId        (unique)
 *   ["units_by_model", model, unitId]                  -> true
 *   ["units_by_site", site, unitId]                    -> true
 *   ["units_by_tag", tag, unitId]                      -> true
 *   ["units_by_chip", chip, unitId]                    -> true
 *   ["rework_state", component, state, unitId]         -> { since, seq }   (audit index: current state per component)
 *   ["rework_by_who", who, at, unitId, seq]            -> true
 *
 * Every secondary index changes in the same atomic commit as the record, with
 * a check on the record's versionstamp (optimistic concurrency, retried).
 *
 * Integration points (other issues call these):
 *   upsertUnitFromBench  flashing registers a unit after a flash job
 *   findUnitByMac / findUnitByTopic   OpenBeken ingest links MQTT units
 *   recordUnitSeen       ingest notes last seen / reported firmware (no history entry: observations, not edits)
 *   appendRework         the bench operator logs a desolder / resolder / trace cut ...
 *   listUnits(filter)    pages, rollouts (target selection)
 */
import { auditOp } from "../kv/audit.ts";
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import { DomainError, type ErrorCode } from "../http/errors.ts";
import { z } from "zod";
import { getManyChunked } from "../kv/bulk.ts";

export const MODULES = ["CBU", "CB2S", "CB3S", "WB3S", "WB2S", "CB2L", "other"] as const;

/** MAC as OpenBeken prints it: lowercase, colon separated. */
export function normalizeMac(mac: string): string {
  const hex = mac.toLowerCase().replace(/[^0-9a-f]/g, "");
  if (hex.length !== 12) throw new UnitInputError(`invalid MAC ${JSON.stringify(mac)}`);
  return hex.match(/../g)!.join(":");
}

export const REWORK_ACTIONS = [
  "desoldered",
  "resoldered",
  "trace_cut",
  "trace_restored",
  "jumpered", // e.g. SPI→UART jumpers
  "jumper_removed",
  "replaced", // e.g. capacitor replaced
  "other",
] as const;
export type ReworkAction = typeof REWORK_ACTIONS[number];

/** What an action leaves the component as; null = no change of presence (replaced, other). */
export type ComponentState = "off" | "on" | "cut" | "jumpered";
const ACTION_STATE: Record<ReworkAction, ComponentState | null> = {
  desoldered: "off",
  resoldered: "on",
  trace_cut: "cut",
  trace_restored: "on",
  jumpered: "jumpered",
  jumper_removed: "on",
  replaced: "on",
  other: null,
};

export const reworkInput = z.object({
  component: z.string().trim().min(1).max(40), // "RN8209C", "UART1 trace", "C12"
  action: z.enum(REWORK_ACTIONS),
  reason: z.string().max(500).default(""),
  who: z.string().trim().min(1).max(60),
  at: z.number().int().positive().optional(),
  benchHost: z.string().max(80).optional(),
  photoNote: z.string().max(500).optional(),
  /** a free-text note ("for Bob"): `who` is the signed-in user, this never replaces it */
  onBehalfOf: z.string().trim().max(120).optional(),
});
export type ReworkInput = z.input<typeof reworkInput>;

export interface ReworkEntry {
  unitId: string;
  seq: number;
  component: string;
  action: ReworkAction;
  reason: string;
  who: string;
  at: number;
  benchHost?: string;
  photoNote?: string;
  onBehalfOf?: string;
}

export interface FlashRecord {
  at: number;
  benchHost: string;
  /** what was written: "OpenBeken 1.18.299 (BK7231N)", "stock firmware (backup 1a2b3c4d5e6f)" */
  firmware: string | null;
  /** sha256 of the bytes written */
  firmwareSha256?: string | null;
  backupId: string | null;
  flashId: string | null;
  jobId?: string;
  /** which bench job: batch, write, restore */
  kind?: BenchJobKind;
  agentId?: string;
  batchId?: string;
  port?: string;
}

export const BENCH_JOB_KINDS = ["batch", "write", "restore", "backup"] as const;
export type BenchJobKind = typeof BENCH_JOB_KINDS[number];
/** firmwareReported of a unit whose stock (vendor) image was restored on the bench */
export const STOCK_FIRMWARE = "stock firmware";

export interface CalibrationRecord {
  at: number;
  by: string;
  voltage?: number;
  current?: number;
  power?: number;
  note?: string;
}

export interface Unit {
  id: string;
  /** model profile id (shared/profiles), e.g. "zmai-90" */
  model: string | null;
  module: string | null;
  chip: string | null; // "BK7231N" | "BK7231T"
  mac: string | null;
  /** OpenBeken MQTT topic (= client id) */
  topic: string | null;
  meteringChip: string | null;
  site: string | null;
  location: string | null;
  circuit: string | null;
  tags: string[];
  /** operator override for HTTP OTA delivery ("192.168.1.50" or "host:port"); else the unit's reported ip */
  httpAddress: string | null;
  firmwareReported: string | null;
  firmwareAssigned: string | null;
  flashId: string | null;
  backups: { backupId: string; at: number; benchHost: string | null }[];
  flashes: FlashRecord[];
  calibrations: CalibrationRecord[];
  lastSeen: number | null;
  notes: string;
  createdAt: number;
  updatedAt: number;
  /** bumped by every edit (not by observations) */
  rev: number;
  reworkCount: number;
}

export interface UnitRevision {
  unitId: string;
  rev: number;
  /** the record as it was before this edit */
  before: Unit | null;
  by: string;
  at: number;
  reason: string;
  changed: string[];
}

export class UnitInputError extends DomainError {
  override name = "UnitInputError";
  constructor(message: string, code: ErrorCode = "invalid") {
    super(code, message);
  }
}
export class UnitConflictError extends DomainError {
  override name = "UnitConflictError";
  constructor(message: string) {
    super("conflict", message);
  }
}

/** The fields an operator (or the flasher) may set. */
export const unitFields = z.object({
  model: z.string().trim().max(60).nullable().optional(),
  module: z.string().trim().max(20).nullable().optional(),
  chip: z.string().trim().max(20).nullable().optional(),
  mac: z.string().nullable().optional(),
  topic: z.string().trim().min(1).max(64).regex(/^[^#+/\s]+$/, "an MQTT topic level").nullable().optional(),
  meteringChip: z.string().trim().max(20).nullable().optional(),
  site: z.string().trim().max(80).nullable().optional(),
  location: z.string().trim().max(120).nullable().optional(),
  circuit: z.string().trim().max(80).nullable().optional(),
  tags: z.array(z.string().trim().min(1).max(40)).max(30).optional(),
  httpAddress: z.string().trim().max(120).nullable().optional(),
  firmwareAssigned: z.string().trim().max(80).nullable().optional(),
  notes: z.string().max(2000).optional(),
});
export type UnitFields = z.input<typeof unitFields>;

const EDITABLE = [
  "model",
  "module",
  "chip",
  "mac",
  "topic",
  "meteringChip",
  "site",
  "location",
  "circuit",
  "tags",
  "httpAddress",
  "firmwareAssigned",
  "notes",
] as const;

export interface Actor {
  by: string;
  reason?: string;
  now?: number;
  /** free text ("for Bob, by phone"), kept in the audit entry apart from the actor */
  onBehalfOf?: string;
}

/** The audit entry of a unit write, committed with the unit itself (one atomic commit: both or neither). */
function unitAudit(action: string, actor: Actor, details: Record<string, unknown> = {}) {
  return (op: Deno.AtomicOperation, u: Unit) =>
    auditOp(op, {
      actor: actor.by,
      action,
      target: `unit:${u.id}`,
      details: { ...details, ...(actor.onBehalfOf ? { onBehalfOf: actor.onBehalfOf } : {}) },
    }, actor.now ?? Date.now());
}

function emptyUnit(id: string, now: number): Unit {
  return {
    id,
    model: null,
    module: null,
    chip: null,
    mac: null,
    topic: null,
    meteringChip: null,
    site: null,
    location: null,
    circuit: null,
    tags: [],
    httpAddress: null,
    firmwareReported: null,
    firmwareAssigned: null,
    flashId: null,
    backups: [],
    flashes: [],
    calibrations: [],
    lastSeen: null,
    notes: "",
    createdAt: now,
    updatedAt: now,
    rev: 0,
    reworkCount: 0,
  };
}

/** Unit ids: "u-" + MAC hex when the MAC is known (stable, readable), else random. */
export function unitIdFor(mac: string | null): string {
  return mac ? `u-${mac.replaceAll(":", "")}` : `u-${crypto.randomUUID().slice(0, 12)}`;
}

export const UNIT_ID = /^u-[0-9a-z-]{4,40}$/;

function indexKeys(u: Unit): Deno.KvKey[] {
  const keys: Deno.KvKey[] = [];
  if (u.model) keys.push(["units_by_model", u.model, u.id]);
  if (u.site) keys.push(["units_by_site", u.site, u.id]);
  if (u.chip) keys.push(["units_by_chip", u.chip, u.id]);
  for (const t of new Set(u.tags)) keys.push(["units_by_tag", t, u.id]);
  return keys;
}

/**
 * Write `next` over `prev` (null = create) in one atomic commit with every
 * index change and a revision entry. Returns false on a lost race (retry).
 */
async function commitUnit(
  kv: Deno.Kv,
  prev: Deno.KvEntryMaybe<Unit>,
  next: Unit,
  rev: UnitRevision | null,
  extra?: (op: Deno.AtomicOperation) => void,
): Promise<boolean> {
  const before = prev.value;
  const op = kv.atomic().check(prev);
  if (before?.mac !== next.mac) {
    if (before?.mac) op.delete(["units_by_mac", before.mac]);
    if (next.mac) {
      op.check({ key: ["units_by_mac", next.mac], versionstamp: null }).set(["units_by_mac", next.mac], next.id);
    }
  }
  if (before?.topic !== next.topic) {
    if (before?.topic) op.delete(["units_by_topic", before.topic]);
    if (next.topic) {
      op.check({ key: ["units_by_topic", next.topic], versionstamp: null }).set(
        ["units_by_topic", next.topic],
        next.id,
      );
    }
  }
  const oldIdx = new Set((before ? indexKeys(before) : []).map((k) => JSON.stringify(k)));
  const newIdx = indexKeys(next);
  for (const k of oldIdx) if (!newIdx.some((n) => JSON.stringify(n) === k)) op.delete(JSON.parse(k));
  for (const k of newIdx) if (!oldIdx.has(JSON.stringify(k))) op.set(k, true);
  op.set(["unit", next.id], next);
  if (rev) op.set(["unit_rev", next.id, rev.rev], rev);
  extra?.(op);
  return (await op.commit()).ok;
}

/** Explain a failed commit: a uniqueness clash is the caller's error, anything else a race to retry. */
async function uniquenessClash(kv: Deno.Kv, next: Unit): Promise<string | null> {
  if (next.mac) {
    const owner = (await kv.get<string>(["units_by_mac", next.mac])).value;
    if (owner && owner !== next.id) return `MAC ${next.mac} already belongs to unit ${owner}`;
  }
  if (next.topic) {
    const owner = (await kv.get<string>(["units_by_topic", next.topic])).value;
    if (owner && owner !== next.id) return `MQTT topic ${next.topic} already belongs to unit ${owner}`;
  }
  return null;
}

function applyFields(u: Unit, f: z.output<typeof unitFields>): string[] {
  const changed: string[] = [];
  for (const k of EDITABLE) {
    let v = f[k];
    if (v === undefined) continue;
    if (k === "mac" && v) v = normalizeMac(v as string);
    if (k === "tags") v = [...new Set(v as string[])].sort();
    if (JSON.stringify(u[k]) !== JSON.stringify(v)) {
      (u as unknown as Record<string, unknown>)[k] = v;
      changed.push(k);
    }
  }
  return changed;
}

/**
 * Read-modify-write loop shared by every edit: `mutate` changes a copy and
 * says which fields changed (empty = nothing to write).
 */
async function editUnit(
  kv: Deno.Kv,
  id: string,
  actor: Actor,
  mutate: (u: Unit, isNew: boolean) => string[],
  opts: { create?: boolean; history?: boolean; extra?: (op: Deno.AtomicOperation, u: Unit) => void } = {},
): Promise<Unit> {
  return await untilCommitted(`unit ${id}`, async () => {
    const now = actor.now ?? Date.now();
    const prev = await kv.get<Unit>(["unit", id]);
    if (!prev.value && !opts.create) throw new UnitInputError(`no such unit ${id}`, "not_found");
    const next: Unit = structuredClone(prev.value ?? emptyUnit(id, now));
    const changed = mutate(next, !prev.value);
    if (prev.value && changed.length === 0) return prev.value;
    const history = opts.history !== false || !prev.value;
    if (history) {
      next.rev = (prev.value?.rev ?? 0) + 1;
      next.updatedAt = now;
    }
    const rev: UnitRevision | null = history
      ? { unitId: id, rev: next.rev, before: prev.value, by: actor.by, at: now, reason: actor.reason ?? "", changed }
      : null;
    if (await commitUnit(kv, prev, next, rev, opts.extra ? (op) => opts.extra!(op, next) : undefined)) return next;
    const clash = await uniquenessClash(kv, next);
    if (clash) throw new UnitConflictError(clash);
    return CONFLICT;
  });
}

/**
 * Create a unit (operator form, API, adopting an MQTT unit). MAC and topic must be unique. The audit entry
 * (`unit.create`, or the caller's action such as `unit.adopt`) is part of the same commit.
 */
export async function createUnit(
  kv: Deno.Kv,
  fields: UnitFields,
  actor: Actor,
  audit: { action: string; details?: Record<string, unknown> } = { action: "unit.create" },
): Promise<Unit> {
  const f = parseFields(fields);
  const mac = f.mac ? normalizeMac(f.mac) : null;
  const id = unitIdFor(mac);
  if ((await kv.get(["unit", id])).value) throw new UnitConflictError(`unit ${id} already exists`);
  return await editUnit(kv, id, actor, (u, isNew) => {
    if (!isNew) throw new UnitConflictError(`unit ${id} already exists`);
    return ["created", ...applyFields(u, f)];
  }, { create: true, extra: unitAudit(audit.action, actor, audit.details) });
}

/** Edit operator fields; the previous record is kept as a revision, the audit entry in the same commit. */
export async function updateUnit(kv: Deno.Kv, id: string, fields: UnitFields, actor: Actor): Promise<Unit> {
  const f = parseFields(fields);
  return await editUnit(kv, id, actor, (u) => applyFields(u, f), {
    extra: unitAudit("unit.edit", actor, { reason: actor.reason ?? "" }),
  });
}

function parseFields(fields: UnitFields) {
  const r = unitFields.safeParse(fields);
  if (!r.success) throw new UnitInputError(r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return r.data;
}

export const benchRegistration = z.object({
  mac: z.string(),
  chip: z.string().trim().min(1).max(20),
  flashId: z.string().max(40).nullable().optional(),
  backupId: z.string().max(120).nullable().optional(),
  /** a label, never a host path ("OpenBeken 1.18.299 (BK7231N)"); a release file name is read for its version */
  firmware: z.string().max(120).nullable().optional(),
  firmwareSha256: z.string().regex(/^[0-9a-f]{64}$/).nullable().optional(),
  /** the version the written image carries (shared/firmware-id.ts), for firmwareReported */
  firmwareVersion: z.string().max(60).nullable().optional(),
  /** the unit's stock image was written back: it runs the vendor firmware again */
  stockFirmware: z.boolean().optional(),
  kind: z.enum(BENCH_JOB_KINDS).optional(),
  agentId: z.string().max(80).optional(),
  batchId: z.string().max(80).optional(),
  port: z.string().max(200).optional(),
  benchHost: z.string().trim().min(1).max(80),
  at: z.number().int().positive().optional(),
  jobId: z.string().max(80).optional(),
  model: z.string().max(60).optional(),
  module: z.string().max(20).optional(),
  meteringChip: z.string().max(20).optional(),
  topic: z.string().max(64).optional(),
  /**
   * Backups of the same MAC taken by earlier, interrupted jobs. The first of them is the stock
   * firmware: a re-run after a half-finished write backs up the half-written chip, so the unit
   * must keep the earlier ones linked too.
   */
  earlierBackups: z.array(
    z.object({ backupId: z.string().max(120), at: z.number(), benchHost: z.string().max(80).nullable() }),
  )
    .max(100).optional(),
});
export type BenchRegistration = z.input<typeof benchRegistration>;

/**
 * Called by the flasher after a bench job: finds the unit by MAC (or creates it) and
 * appends the flash and backup records. Re-flashing the same unit adds a record;
 * nothing is overwritten. A unit is the MAC *and* the chip's flash id: a second chip
 * presenting a known MAC with another flash id, or two ports of one batch presenting
 * the same MAC, is refused (UnitConflictError) instead of merged into one record.
 */
export async function upsertUnitFromBench(
  kv: Deno.Kv,
  reg: BenchRegistration,
  /** the authenticated caller (agent or user) and the server's time; `reg.at` is only for direct callers */
  actor: { by?: string; now?: number } = {},
): Promise<Unit> {
  const r = benchRegistration.safeParse(reg);
  if (!r.success) throw new UnitInputError(r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const d = r.data;
  const mac = normalizeMac(d.mac);
  const at = actor.now ?? d.at ?? Date.now();
  const id = (await kv.get<string>(["units_by_mac", mac])).value ?? unitIdFor(mac);
  const by = actor.by ?? `bench:${d.benchHost}`;
  const reason = d.kind === "backup"
    ? "backed up on bench"
    : d.kind === "restore"
    ? "restored on bench"
    : "flashed on bench";
  return await editUnit(kv, id, { by, reason, now: at }, (u, isNew) => {
    if (!isNew) refuseOtherChip(u, d);
    const changed = isNew ? ["created"] : [];
    u.mac = mac;
    const set = <K extends keyof Unit>(k: K, v: Unit[K] | undefined) => {
      if (v !== undefined && v !== null && JSON.stringify(u[k]) !== JSON.stringify(v)) {
        u[k] = v;
        changed.push(k);
      }
    };
    set("chip", d.chip);
    set("flashId", d.flashId ?? undefined);
    set("model", d.model);
    set("module", d.module);
    set("meteringChip", d.meteringChip);
    if (d.topic && !u.topic) set("topic", d.topic);
    if (d.kind !== "backup") {
      u.flashes.push({
        at,
        benchHost: d.benchHost,
        firmware: d.firmware ?? null,
        firmwareSha256: d.firmwareSha256 ?? null,
        backupId: d.backupId ?? null,
        flashId: d.flashId ?? null,
        jobId: d.jobId,
        ...(d.kind ? { kind: d.kind } : {}),
        ...(d.agentId ? { agentId: d.agentId } : {}),
        ...(d.batchId ? { batchId: d.batchId } : {}),
        ...(d.port ? { port: d.port } : {}),
      });
      changed.push("flashes");
    }
    for (
      const b of [
        ...(d.earlierBackups ?? []),
        ...(d.backupId ? [{ backupId: d.backupId, at, benchHost: d.benchHost }] : []),
      ]
    ) {
      if (u.backups.some((x) => x.backupId === b.backupId)) continue;
      u.backups.push(b);
      if (!changed.includes("backups")) changed.push("backups");
    }
    u.backups.sort((a, b) => a.at - b.at);
    if (d.stockFirmware) set("firmwareReported", STOCK_FIRMWARE);
    else if (d.firmwareVersion) set("firmwareReported", d.firmwareVersion);
    else if (d.firmware) set("firmwareReported", versionFromFirmwareName(d.firmware));
    return changed;
  }, { create: true });
}

function refuseOtherChip(u: Unit, d: z.output<typeof benchRegistration>) {
  if (d.flashId && u.flashId && d.flashId !== u.flashId) {
    throw new UnitConflictError(
      `MAC ${u.mac} is unit ${u.id} with flash id ${u.flashId}, but this chip has flash id ${d.flashId}: ` +
        `two chips present the same MAC (a cloned or copied TLV sector). Refused: fix the MAC before registering it`,
    );
  }
  if (d.batchId && d.port) {
    const other = u.flashes.find((f) =>
      f.batchId === d.batchId && f.agentId === d.agentId && f.port !== undefined && f.port !== d.port
    );
    if (other) {
      throw new UnitConflictError(
        `ports ${other.port} and ${d.port} of batch ${d.batchId} present the same MAC ${u.mac}: ` +
          `two units cannot be one; refused (flash them separately after fixing the MAC)`,
      );
    }
  }
}

/** "OpenBK7231N_QIO_1.18.299.bin" → "1.18.299"; a bare version passes through. */
export function versionFromFirmwareName(name: string): string {
  const m = /^Open[A-Z0-9]+_(?:(?:QIO|UA|UG)_)?(.+?)(?:\.(?:bin|rbl))?$/.exec(name);
  return m ? m[1] : name;
}

/**
 * Observations from the field (OpenBeken ingest): last seen, reported
 * firmware. These are not edits, so they write no revision, except that a
 * firmware change is worth a revision (what a unit ran, and since when).
 */
export async function recordUnitSeen(
  kv: Deno.Kv,
  id: string,
  obs: { at: number; firmware?: string | null },
): Promise<Unit> {
  const fwChanged = async () => {
    const u = (await kv.get<Unit>(["unit", id])).value;
    return !!obs.firmware && u?.firmwareReported !== obs.firmware;
  };
  const history = await fwChanged();
  return await editUnit(kv, id, { by: "ingest", reason: "firmware reported", now: obs.at }, (u) => {
    const changed: string[] = [];
    if (obs.firmware && u.firmwareReported !== obs.firmware) {
      u.firmwareReported = obs.firmware;
      changed.push("firmwareReported");
    }
    if (u.lastSeen === null || obs.at > u.lastSeen) {
      u.lastSeen = obs.at;
      changed.push("lastSeen");
    }
    return changed;
  }, { history });
}

export const calibrationInput = z.object({
  by: z.string().trim().min(1).max(60),
  at: z.number().int().positive().optional(),
  voltage: z.number().finite().optional(),
  current: z.number().finite().optional(),
  power: z.number().finite().optional(),
  note: z.string().max(500).optional(),
});

export async function appendCalibration(kv: Deno.Kv, id: string, c: z.input<typeof calibrationInput>): Promise<Unit> {
  const r = calibrationInput.safeParse(c);
  if (!r.success) throw new UnitInputError(r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const at = r.data.at ?? Date.now();
  return await editUnit(kv, id, { by: r.data.by, reason: "calibration", now: at }, (u) => {
    u.calibrations.push({ ...r.data, at });
    return ["calibrations"];
  });
}

/**
 * Append a rework entry (never edited, never deleted) and move the audit
 * index for that component, in the same commit as the unit's counter.
 */
export async function appendRework(kv: Deno.Kv, unitId: string, input: ReworkInput): Promise<ReworkEntry> {
  const r = reworkInput.safeParse(input);
  if (!r.success) throw new UnitInputError(r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const d = r.data;
  const at = d.at ?? Date.now();
  const component = canonicalComponent(d.component);
  let entry!: ReworkEntry;
  // the previous state of this component decides which audit key to remove
  await editUnit(kv, unitId, { by: d.who, reason: `rework: ${component} ${d.action}`, now: at }, (u) => {
    u.reworkCount++;
    entry = {
      unitId,
      seq: u.reworkCount,
      component,
      action: d.action,
      reason: d.reason,
      who: d.who,
      at,
      benchHost: d.benchHost,
      photoNote: d.photoNote,
      ...(d.onBehalfOf ? { onBehalfOf: d.onBehalfOf } : {}),
    };
    return ["reworkCount"];
  }, {
    history: false, // the rework log itself is the history
    extra: (op, u) => {
      unitAudit("unit.rework", { by: d.who, now: at, onBehalfOf: d.onBehalfOf }, {
        component,
        action: d.action,
        reason: d.reason,
      })(op, u);
      op.check({ key: ["unit_rework", unitId, u.reworkCount], versionstamp: null });
      op.set(["unit_rework", unitId, u.reworkCount], entry);
      op.set(["rework_by_who", d.who, at, unitId, u.reworkCount], true);
      const next = ACTION_STATE[d.action];
      if (next) {
        for (const s of ["off", "on", "cut", "jumpered"] as ComponentState[]) {
          if (s !== next) op.delete(["rework_state", component, s, unitId]);
        }
        op.set(["rework_state", component, next, unitId], { since: at, seq: u.reworkCount });
      }
    },
  });
  return entry;
}

/** "rn8209c " → "RN8209C": components are compared case-insensitively. */
export function canonicalComponent(c: string): string {
  return c.trim().toUpperCase().replace(/\s+/g, " ");
}

export async function listRework(kv: Deno.Kv, unitId: string): Promise<ReworkEntry[]> {
  const out: ReworkEntry[] = [];
  for await (const e of kv.list<ReworkEntry>({ prefix: ["unit_rework", unitId] })) out.push(e.value);
  return out;
}

/** The audit question: which units have `component` in `state` now (e.g. RN8209C "off" = desoldered, not resoldered). */
export async function unitsWithComponentState(
  kv: Deno.Kv,
  component: string,
  state: ComponentState,
): Promise<{ unitId: string; since: number; seq: number }[]> {
  const out: { unitId: string; since: number; seq: number }[] = [];
  const iter = kv.list<{ since: number; seq: number }>({
    prefix: ["rework_state", canonicalComponent(component), state],
  });
  for await (const e of iter) out.push({ unitId: e.key[3] as string, ...e.value });
  return out;
}

/** Every rework entry by one person, oldest first. */
export async function reworksBy(kv: Deno.Kv, who: string): Promise<ReworkEntry[]> {
  const out: ReworkEntry[] = [];
  for await (const e of kv.list({ prefix: ["rework_by_who", who] })) {
    const [, , , unitId, seq] = e.key as [string, string, number, string, number];
    const r = (await kv.get<ReworkEntry>(["unit_rework", unitId, seq])).value;
    if (r) out.push(r);
  }
  return out;
}

/** Every rework entry in the fleet (CSV export), unit by unit. */
export async function* allRework(kv: Deno.Kv): AsyncGenerator<ReworkEntry> {
  for await (const e of kv.list<ReworkEntry>({ prefix: ["unit_rework"] })) yield e.value;
}

export async function getUnit(kv: Deno.Kv, id: string): Promise<Unit | null> {
  return (await kv.get<Unit>(["unit", id])).value;
}

export async function findUnitByMac(kv: Deno.Kv, mac: string): Promise<Unit | null> {
  let m: string;
  try {
    m = normalizeMac(mac);
  } catch {
    return null;
  }
  const id = (await kv.get<string>(["units_by_mac", m])).value;
  return id ? await getUnit(kv, id) : null;
}

export async function findUnitByTopic(kv: Deno.Kv, topic: string): Promise<Unit | null> {
  const id = (await kv.get<string>(["units_by_topic", topic])).value;
  return id ? await getUnit(kv, id) : null;
}

export async function unitRevisions(kv: Deno.Kv, id: string): Promise<UnitRevision[]> {
  const out: UnitRevision[] = [];
  for await (const e of kv.list<UnitRevision>({ prefix: ["unit_rev", id] })) out.push(e.value);
  return out;
}

export interface UnitFilter {
  model?: string;
  site?: string;
  tag?: string;
  chip?: string;
  /** firmware reported, exact */
  firmware?: string;
  /** substring of id, MAC, topic, location or circuit */
  q?: string;
}

/** Units matching every given filter; an index narrows the scan when one applies. */
export async function listUnits(kv: Deno.Kv, filter: UnitFilter = {}): Promise<Unit[]> {
  let ids: string[] | null = null;
  const narrow = async (prefix: Deno.KvKey) => {
    const got: string[] = [];
    for await (const e of kv.list({ prefix })) got.push(e.key[e.key.length - 1] as string);
    ids = ids === null ? got : ids.filter((i) => got.includes(i));
  };
  if (filter.model) await narrow(["units_by_model", filter.model]);
  if (filter.site) await narrow(["units_by_site", filter.site]);
  if (filter.tag) await narrow(["units_by_tag", filter.tag]);
  if (filter.chip) await narrow(["units_by_chip", filter.chip]);
  let units: Unit[] = [];
  if (ids === null) {
    for await (const e of kv.list<Unit>({ prefix: ["unit"] })) units.push(e.value);
  } else {
    const list: string[] = ids;
    for (const g of await getManyChunked<Unit>(kv, list.map((id) => ["unit", id]))) if (g.value) units.push(g.value);
    units.sort((a, b) => a.id.localeCompare(b.id));
  }
  if (filter.firmware) units = units.filter((u) => u.firmwareReported === filter.firmware);
  if (filter.q) {
    const q = filter.q.toLowerCase();
    units = units.filter((u) =>
      [u.id, u.mac, u.topic, u.location, u.circuit].some((s) => s?.toLowerCase().includes(q))
    );
  }
  return units;
}
