/**
 * The rollout engine: one `tick` drives every active rollout one step from
 * its KV state — start when due, verify in-flight devices against presence,
 * time them out, pick returning offline units up again, evaluate group
 * thresholds (hawkBit semantics: success = verified/total ≥ threshold starts
 * the next group; error = (failed+timed out)/total > threshold pauses the
 * rollout), then command the next devices within the pacing budget and the
 * maintenance window.
 *
 * A unit is commanded only once it has reported its build (hence its chip) on
 * its current connection: OpenBeken publishes `build` a second or more after
 * `connected` = online, and a wrong-chip image must never be sent. A unit
 * whose build is wrong ends failed; one that stays online without a build
 * for the rollout's chip timeout ends skipped (chip unknown). Neither is sent
 * anything.
 *
 * Commands are at-most-once: a device moves scheduled → commanded in a KV
 * commit guarded by a write-once ledger key BEFORE the command is sent, so
 * a restarted server (or a second instance) never commands it again; a
 * command lost in a crash ends as timed_out and can be retried explicitly.
 */
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { AuditInput } from "../kv/audit.ts";
import {
  activeRolloutIds,
  DEFAULT_CHIP_TIMEOUT_MS,
  ERROR_STATES,
  getRollout,
  IN_FLIGHT,
  inWindow,
  listDevices,
  OPEN_STATES,
  type OtaDevice,
  type Rollout,
  saveRollout,
  transitionDevice,
  transitionDeviceFresh,
  zeroCounts,
} from "./store.ts";
import type { OtaPresence, PresenceSource } from "./presence.ts";

/** How a command reaches a unit (MQTT ota_http or HTTP /api/ota + /api/reboot). */
export interface OtaDelivery {
  /** send the command; resolve once sent (HTTP delivery may keep working in the background) */
  send(rollout: Rollout, device: OtaDevice): Promise<void>;
}

export interface EngineDeps {
  kv: Deno.Kv;
  clock: Clock;
  log: Logger;
  presence: PresenceSource;
  delivery: OtaDelivery;
  /**
   * when this server started (before its broker came up): a unit is commanded
   * only once it has been heard from since then. After a restart the stored
   * presence still says "online" while units are reconnecting to the broker,
   * and a command published then reaches nobody (and would be lost for good:
   * commands are at-most-once). Not the engine's own start: a unit that
   * reconnected while the server was still starting is heard before the
   * engine starts and may say nothing more for a long while.
   */
  startedAt: number;
}

export interface TickStats {
  rollouts: number;
  commanded: number;
  verified: number;
  failed: number;
}

export async function tick(deps: EngineDeps, tickMs: number): Promise<TickStats> {
  const stats: TickStats = { rollouts: 0, commanded: 0, verified: 0, failed: 0 };
  for (const id of await activeRolloutIds(deps.kv)) {
    try {
      await driveRollout(deps, id, tickMs, stats);
      stats.rollouts++;
    } catch (e) {
      deps.log.error("rollout tick failed", { rollout: id, err: e });
    }
  }
  return stats;
}

async function driveRollout(deps: EngineDeps, id: string, tickMs: number, stats: TickStats) {
  const { kv, presence } = deps;
  const now = deps.clock.now();
  const entry = await getRollout(kv, id);
  const r0 = entry.value;
  if (!r0) return;
  const r: Rollout = structuredClone(r0);
  const audits: AuditInput[] = [];
  if (r.status === "scheduled" && now >= r.startAt) {
    r.status = "running";
    r.groups[0].state = r.groups[0].state === "waiting" ? "running" : r.groups[0].state;
    audits.push({ actor: "engine", action: "rollout.start", target: `rollout:${id}` });
  }
  const devices = await listDevices(kv, id);
  const live = r.status !== "cancelled" && r.status !== "finished";

  // 1. in-flight devices: verified, failed (booted the old version) or timed out; offline ones that returned
  const watched = live
    ? devices.filter((e) => IN_FLIGHT.includes(e.value.state) || e.value.state === "skipped_offline")
    : [];
  const seen = await presence.load(watched.map((e) => e.value.topic));
  for (const e of watched) {
    const d = e.value;
    const p = seen.get(d.topic);
    if (IN_FLIGHT.includes(d.state)) {
      const commandedAt = d.commandedAt ?? 0;
      if (p && p.online && p.bootedAt !== null && p.bootedAt > commandedAt && p.version) {
        if (p.version === r.version) {
          const n = await transitionDevice(kv, e, IN_FLIGHT, "verified", {
            now,
            note: `reconnected with ${p.version}`,
            audit: true,
          });
          if (n) {
            e.value = n;
            stats.verified++;
          }
        } else {
          const n = await transitionDevice(kv, e, IN_FLIGHT, "failed", {
            now,
            audit: true,
            error: `rebooted into ${p.version}, not ${r.version} (the bootloader refused the image)`,
          });
          if (n) {
            e.value = n;
            stats.failed++;
          }
        }
      } else if (now - commandedAt > r.verifyTimeoutMs) {
        const n = await transitionDevice(kv, e, IN_FLIGHT, "timed_out", {
          now,
          audit: true,
          error: `no reconnect with ${r.version} within ${
            Math.round(r.verifyTimeoutMs / 1000)
          } s (last state ${d.state})`,
        });
        if (n) e.value = n;
      }
    } else if (p?.online) {
      const n = await transitionDevice(kv, e, ["skipped_offline"], "scheduled", { now, note: "unit is back online" });
      if (n) e.value = n;
    }
  }

  // 2. group thresholds
  const byGroup = r.groups.map(() => zeroCounts());
  for (const e of devices) byGroup[e.value.group][e.value.state]++;
  if (r.status === "running") {
    for (const g of r.groups) {
      if (g.state !== "running") continue;
      const c = byGroup[g.index];
      // errors an operator accepted by resuming do not count again
      const errors = ERROR_STATES.reduce((s, st) => s + c[st], 0) - (g.acceptedErrors ?? 0);
      if (g.total > 0 && (errors / g.total) * 100 > g.errorThreshold) {
        g.state = "error";
        r.status = "paused";
        r.pauseReason =
          `group "${g.name}": ${errors} of ${g.total} failed or timed out, over the ${g.errorThreshold} % error threshold`;
        audits.push({
          actor: "engine",
          action: "rollout.pause",
          target: `rollout:${id}`,
          details: { reason: r.pauseReason },
        });
        break;
      }
      // a group with nothing left in flight or waiting can never reach its success threshold by itself
      const exhausted = OPEN_STATES.every((st) => c[st] === 0);
      // after an operator resumed past its shortfall, the accepted errors leave no new ones: let it through
      const accepted = exhausted && errors === 0 && g.acceptedErrors !== undefined;
      if (g.total === 0 || (c.verified / g.total) * 100 >= g.successThreshold || accepted) {
        g.state = "succeeded";
        const nextGroup = r.groups[g.index + 1];
        audits.push({
          actor: "engine",
          action: "rollout.group_succeeded",
          target: `rollout:${id}`,
          details: { group: g.name, verified: c.verified, total: g.total },
        });
        if (nextGroup && nextGroup.state === "waiting") nextGroup.state = "running";
      } else if (exhausted) {
        // neither threshold decides (e.g. error threshold 100 %): without this the rollout would sit "running" forever
        g.state = "error";
        r.status = "paused";
        r.pauseReason =
          `group "${g.name}" is done with ${c.verified} of ${g.total} verified, under its ${g.successThreshold} % success threshold`;
        audits.push({
          actor: "engine",
          action: "rollout.pause",
          target: `rollout:${id}`,
          details: { reason: r.pauseReason },
        });
        break;
      }
    }
  }

  // 3. command devices within pacing and the window
  if (r.status === "running" && inWindow(r.window, now)) {
    const interval = 60_000 / r.pacingPerMin;
    let slot = Math.max(r.nextSlotAt, now - Math.max(tickMs, interval));
    const open = new Set(r.groups.filter((g) => g.state === "running" || g.state === "succeeded").map((g) => g.index));
    const candidates = devices.filter((e) => e.value.state === "scheduled" && open.has(e.value.group))
      .sort((a, b) => a.value.group - b.value.group || a.value.unitId.localeCompare(b.value.unitId));
    const batch = 50;
    let loaded = new Map<string, import("./presence.ts").OtaPresence>();
    for (let ci = 0; ci < candidates.length; ci++) {
      const e = candidates[ci];
      if (slot > now) break;
      if (ci % batch === 0) loaded = await presence.load(candidates.slice(ci, ci + batch).map((c) => c.value.topic));
      const p = loaded.get(e.value.topic);
      if (!p || !p.online) {
        const n = await transitionDevice(kv, e, ["scheduled"], "skipped_offline", {
          now,
          note: "offline when its turn came",
          audit: true,
        });
        if (n) e.value = n;
        continue; // an offline unit costs no pacing slot
      }
      if (p.lastSeen < deps.startedAt) continue; // not heard from since we started: wait for it
      if (!buildFresh(p)) {
        // its chip is not known for this connection yet: wait for `build`, up to the rollout's chip timeout
        const since = Math.max(p.onlineSince ?? now, r.startAt, deps.startedAt);
        const limit = r.chipTimeoutMs ?? DEFAULT_CHIP_TIMEOUT_MS;
        if (now - since < limit) continue;
        const n = await transitionDevice(kv, e, ["scheduled"], "skipped", {
          now,
          audit: true,
          error: `chip unknown: no build reported within ${Math.round(limit / 1000)} s online; not sent`,
        });
        if (n) e.value = n;
        continue;
      }
      if (p.chip!.toUpperCase() !== r.platform) {
        // inventory said otherwise, the unit knows better: never send a wrong-platform image
        const n = await transitionDevice(kv, e, ["scheduled"], "failed", {
          now,
          audit: true,
          error: `unit reports chip ${p.chip}, the image is for ${r.platform}: not sent`,
        });
        if (n) e.value = n;
        continue;
      }
      if (p.version === r.version) {
        const n = await transitionDevice(kv, e, ["scheduled"], "verified", { now, note: `already runs ${r.version}` });
        if (n) e.value = n;
        continue;
      }
      const n = await transitionDevice(kv, e, ["scheduled"], "commanded", {
        now,
        command: true,
        audit: true,
        note: `via ${r.delivery}`,
      });
      if (!n) continue; // another instance got there first
      e.value = n;
      slot += interval;
      stats.commanded++;
      try {
        await deps.delivery.send(r, n);
      } catch (err) {
        const f = await transitionDeviceFresh(kv, id, n.unitId, ["commanded"], "failed", {
          now,
          audit: true,
          error: `delivery failed: ${err instanceof Error ? err.message : err}`,
        });
        if (f) e.value = f;
      }
    }
    r.nextSlotAt = slot;
  }

  // 4. counts and completion
  const counts = zeroCounts();
  for (const e of devices) counts[e.value.state]++;
  r.counts = counts;
  const open = OPEN_STATES.reduce((s, st) => s + counts[st], 0);
  if (r.status === "running" && open === 0 && r.groups.every((g) => g.state === "succeeded")) {
    r.status = "finished";
    r.finishedAt = now;
    audits.push({ actor: "engine", action: "rollout.finish", target: `rollout:${id}`, details: { counts } });
  }
  if (JSON.stringify(r) !== JSON.stringify(r0)) await saveRollout(kv, entry, r, audits, now);
}

/** The unit's build (chip, version) was reported on its current connection. */
function buildFresh(p: OtaPresence): boolean {
  return !!p.chip && p.buildAt !== null && (p.onlineSince === null || p.buildAt >= p.onlineSince);
}

/** Run `tick` every `tickMs` until stopped. */
export class RolloutEngine {
  #stop = new AbortController();
  #loop: Promise<void> | null = null;
  constructor(private deps: EngineDeps, private tickMs: number) {}

  start() {
    this.#loop = (async () => {
      while (!this.#stop.signal.aborted) {
        await tick(this.deps, this.tickMs);
        const aborted = new Promise<void>((resolve) =>
          this.#stop.signal.addEventListener("abort", () => resolve(), { once: true })
        );
        await Promise.race([this.deps.clock.sleep(this.tickMs, this.#stop.signal).catch(() => {}), aborted]);
      }
    })();
  }

  async stop() {
    this.#stop.abort();
    await this.#loop;
  }
}
