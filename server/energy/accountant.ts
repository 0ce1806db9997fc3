/**
 * Turns committed samples (agent readings, OpenBeken messages) into energy:
 * queued, grouped per meter, accounted in timestamp order against the stored
 * state and committed with the rollups in batched atomic commits.
 *
 * Why after the readings commit and not inside it: the per-meter watermark in
 * the state (checked by versionstamp in the same commit as the rollup sums)
 * is what makes a sample count at most once — whether it is a replayed agent
 * batch, a message two server instances both received, or a retry after a
 * lost race. If this process dies between the two commits (under load up to
 * `coalesceMs` of samples wait in memory), the counter's growth is picked up
 * by the meter's next sample, so no energy is lost either.
 */
import { systemClock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { commitRetryingLocks } from "../kv/retry.ts";
import { loadEnergyStates, SharedRollupSums, type StoredEnergyState, writeEnergy } from "./store.ts";
import {
  type AccountingOptions,
  accountSample,
  DEFAULT_ACCOUNTING,
  type EnergySample,
  newEnergyState,
} from "./accounting.ts";
import { bucketStart, LEVELS, rollUp, spreadSpan } from "./buckets.ts";
import type { Zone } from "../../shared/zone.ts";

const MAX_CHECKS = 90; // Deno KV: 100 checks per atomic commit
const MAX_MUTATIONS = 900; // Deno KV: 1000 mutations per atomic commit
const MAX_ATTEMPTS = 8;
/** a meter's site is re-read after 60–120 s (spread, so 20,000 meters do not all re-read at once) */
const SITE_TTL_MS = 60_000;
/** distinct minutes one meter may touch per commit (each costs up to 3 sums, plus hours/days) */
const MINUTES_PER_ROUND = 120;
/** a queue this long means load: wait for more samples per meter instead of committing each second */
const COALESCE_ABOVE = 2000;

export interface AccountantOptions {
  log: Logger;
  /** where a meter's energy belongs now (inventory, else a manual mapping) */
  siteOf?: (deviceId: string) => Promise<string | null>;
  accounting?: Partial<AccountingOptions>;
  /** where local days and months start (default UTC) */
  zone?: Zone;
  now?: () => number;
  /** after each group: how many samples were applied or skipped as replays */
  onCommitted?: (samples: number) => void;
  /**
   * Under load, a meter's samples wait up to this long (default 30 s) to be
   * committed together: one state write and one set of rollup sums per meter
   * per window, instead of per reading. Meters come due one after another, so
   * the commits are spread evenly, not bunched. A light load (the demo bench,
   * tests) is committed at once.
   */
  coalesceMs?: number;
}

interface PendingMeter {
  samples: EnergySample[];
  /** when its oldest pending sample was submitted (performance.now()) */
  since: number;
}

export class EnergyAccountant {
  /** meters with samples to account, in order of their oldest pending sample */
  #pending = new Map<string, PendingMeter>();
  #pendingSamples = 0;
  /** meters whose backlog was cut (too many minutes for one commit): the rest is due at once */
  #ready = new Map<string, EnergySample[]>();
  #draining: Promise<void> | null = null;
  #stopped = false;
  #cache = new Map<string, { value: StoredEnergyState | null; versionstamp: string | null }>();
  #sites = new Map<string, { site: string | null; until: number }>();
  #opts: AccountingOptions;
  #hurry = 0;
  /** aborts the wait for the coalescing window (idle() wants everything now) */
  #wake: AbortController | null = null;

  constructor(private kv: Deno.Kv, private o: AccountantOptions) {
    this.#opts = { ...DEFAULT_ACCOUNTING, ...o.accounting };
  }

  submit(samples: EnergySample[]) {
    if (this.#stopped || samples.length === 0) return;
    const now = performance.now();
    for (const s of samples) {
      let p = this.#pending.get(s.deviceId);
      if (!p) this.#pending.set(s.deviceId, p = { samples: [], since: now });
      p.samples.push(s);
    }
    this.#pendingSamples += samples.length;
    this.#kick();
  }

  /** Resolves once everything submitted so far is committed (tests, benchmarks, shutdown). */
  async idle(): Promise<void> {
    this.#hurry++;
    try {
      while (this.#draining || this.#pending.size > 0 || this.#ready.size > 0) {
        this.#wake?.abort();
        if (!this.#draining) this.#kick();
        await this.#draining;
      }
    } finally {
      this.#hurry--;
    }
  }

  async stop() {
    await this.idle();
    this.#stopped = true;
  }

  /** Forget a cached site so the next sample re-resolves it (after a site change). */
  forgetSite(deviceId: string) {
    this.#sites.delete(deviceId);
  }

  #kick() {
    if (this.#draining || this.#stopped) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#pending.size > 0 || this.#ready.size > 0) this.#kick();
    });
  }

  /** Up to MAX_CHECKS meters that are due, with their samples in time order (at most MINUTES_PER_ROUND minutes each). */
  #takeDue(): Map<string, EnergySample[]> {
    const group = new Map<string, EnergySample[]>();
    const loaded = this.#pendingSamples >= COALESCE_ABOVE && this.#hurry === 0;
    const dueBefore = loaded ? performance.now() - (this.o.coalesceMs ?? 30_000) : Infinity;
    const take = (deviceId: string, samples: EnergySample[]) => {
      samples.sort((a, b) => a.ts - b.ts);
      // a backlog (a day of 1 Hz readings) touches too many minute buckets for one commit: cut it
      const minutes = new Set<number>();
      let cut = samples.length;
      for (let i = 0; i < samples.length; i++) {
        minutes.add(Math.floor(samples[i].ts / 60_000));
        if (minutes.size > MINUTES_PER_ROUND) {
          cut = i;
          break;
        }
      }
      group.set(deviceId, samples.slice(0, cut));
      if (cut < samples.length) this.#ready.set(deviceId, samples.slice(cut));
    };
    for (const [deviceId, samples] of this.#ready) {
      if (group.size >= MAX_CHECKS) return group;
      this.#ready.delete(deviceId);
      take(deviceId, samples);
    }
    for (const [deviceId, p] of this.#pending) {
      if (group.size >= MAX_CHECKS || p.since > dueBefore) break;
      if (group.has(deviceId) || this.#ready.has(deviceId)) continue; // its earlier samples go first
      this.#pending.delete(deviceId);
      this.#pendingSamples -= p.samples.length;
      take(deviceId, p.samples);
    }
    return group;
  }

  async #drain() {
    while (this.#pending.size > 0 || this.#ready.size > 0) {
      const group = this.#takeDue();
      if (group.size === 0) {
        // nothing due yet: sleep until the oldest pending meter is (idle() wakes this early)
        const first = this.#pending.values().next().value;
        if (!first) continue;
        const wait = first.since + (this.o.coalesceMs ?? 30_000) - performance.now();
        this.#wake = new AbortController();
        await systemClock.sleep(Math.max(1, wait), this.#wake.signal).catch(() => {}); // aborted: go on at once
        this.#wake = null;
        continue;
      }
      let n = 0;
      for (const l of group.values()) n += l.length;
      try {
        await this.#commitGroup(group);
      } catch (e) {
        this.o.log.error("energy commit failed; these samples are skipped (the next counter value covers them)", {
          err: e,
        });
      }
      this.o.onCommitted?.(n);
    }
  }

  async #siteOf(deviceId: string): Promise<string | null> {
    const now = (this.o.now ?? Date.now)();
    const c = this.#sites.get(deviceId);
    if (c && now < c.until) return c.site;
    const site = this.o.siteOf ? await this.o.siteOf(deviceId).catch(() => c?.site ?? null) : null;
    this.#sites.set(deviceId, { site, until: now + SITE_TTL_MS * (1 + Math.random()) });
    return site;
  }

  async #commitGroup(group: Map<string, EnergySample[]>): Promise<void> {
    // a meter's backlog may touch more rollup buckets than one commit may write (a spool replayed after a long
    // outage): it is accounted and committed in parts, each within the limit, in sample order
    let conflicts = 0;
    while (group.size > 0) {
      const missing = [...group.keys()].filter((d) => !this.#cache.has(d));
      if (missing.length) {
        for (const [d, e] of await loadEnergyStates(this.kv, missing)) {
          this.#cache.set(d, { value: e.value, versionstamp: e.versionstamp });
        }
      }
      // account every device; then commit in as few ops as the mutation limit allows
      const writes: {
        next: StoredEnergyState;
        versionstamp: string | null;
        rollups: ReturnType<typeof rollUp>;
        cost: number;
        /** samples left for the next part (the write would exceed the mutation limit) */
        rest: EnergySample[];
      }[] = [];
      const sites = new Map(await Promise.all([...group.keys()].map(async (d) => [d, await this.#siteOf(d)] as const)));
      for (const [deviceId, samples] of group) {
        const cur = this.#cache.get(deviceId)!;
        const site = sites.get(deviceId)!;
        let st: StoredEnergyState = cur.value ?? { ...newEnergyState(deviceId), site };
        const minutes = new Map<number, number>();
        let changed = cur.value === null || st.site !== site;
        const perBucket = site ? 3 : 2;
        const buckets = LEVELS.map(() => new Set<number>());
        let cost = 2, taken = 0, wrote = false;
        for (const s of samples) {
          const r = accountSample(st, s, this.#opts);
          if (r.state !== st) {
            const spread = new Map<number, number>();
            for (const sp of r.spans) {
              for (const [m, mwh] of spreadSpan(sp, this.o.zone)) spread.set(m, (spread.get(m) ?? 0) + mwh);
            }
            const added = LEVELS.map(() => new Set<number>());
            for (const m of spread.keys()) {
              LEVELS.forEach((l, i) => {
                const k = l === "minute" ? m : bucketStart(l, m, this.o.zone);
                if (!buckets[i].has(k)) added[i].add(k);
              });
            }
            const more = added.reduce((n, a) => n + a.size, 0) * perBucket;
            if (wrote && cost + more > MAX_MUTATIONS) break;
            cost += more;
            added.forEach((a, i) => a.forEach((k) => buckets[i].add(k)));
            changed = wrote = true;
            st = { ...r.state, site };
            for (const [m, mwh] of spread) minutes.set(m, (minutes.get(m) ?? 0) + mwh);
          }
          taken++;
        }
        if (!changed) {
          group.delete(deviceId); // nothing to write: these samples were replays or duplicates
          continue;
        }
        const rollups = rollUp(minutes, this.o.zone);
        writes.push({
          next: { ...st, site },
          versionstamp: cur.versionstamp,
          rollups,
          cost,
          rest: samples.slice(taken),
        });
      }
      let failed = false;
      let k = 0;
      while (k < writes.length) {
        const op = this.kv.atomic();
        const part: typeof writes = [];
        let cost = 0;
        while (k < writes.length && (part.length === 0 || cost + writes[k].cost <= MAX_MUTATIONS)) {
          cost += writes[k].cost;
          part.push(writes[k++]);
        }
        const shared = new SharedRollupSums();
        for (const w of part) writeEnergy(op, w.next, w.versionstamp, w.rollups, shared);
        shared.flushInto(op);
        const res = await commitRetryingLocks(op);
        if (res.ok) {
          for (const w of part) {
            this.#cache.set(w.next.deviceId, { value: w.next, versionstamp: res.versionstamp });
            if (w.rest.length > 0) group.set(w.next.deviceId, w.rest);
            else group.delete(w.next.deviceId);
          }
        } else {
          // another instance moved some of these meters on: re-read them and account again
          for (const w of part) this.#cache.delete(w.next.deviceId);
          failed = true;
        }
      }
      // devices whose write succeeded left the group (or kept only their next part)
      if (failed && ++conflicts >= MAX_ATTEMPTS) {
        this.o.log.error("energy commit kept conflicting", { devices: group.size });
        return;
      }
    }
  }
}
