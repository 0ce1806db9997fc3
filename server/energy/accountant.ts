/**
 * Turns committed samples (agent readings, OpenBeken messages) into energy:
 * queued, grouped per meter, accounted in timestamp order against the stored
 * state and committed with the rollups in batched atomic commits.
 *
 * Why after the readings commit and not inside it: the per-meter watermark in
 * the state (checked by versionstamp in the same commit as the rollup sums)
 * is what makes a sample count at most once — whether it is a replayed agent
 * batch, a message two server instances both received, or a retry after a
 * lost race. If this process dies between the two commits, the counter's
 * growth is picked up by the meter's next sample, so nothing is lost either.
 */
import type { Logger } from "../../shared/log.ts";
import { commitRetryingLocks } from "../db/kv_retry.ts";
import { loadEnergyStates, SharedRollupSums, type StoredEnergyState, writeEnergy } from "../db/energy.ts";
import { accountSample, type AccountingOptions, DEFAULT_ACCOUNTING, type EnergySample, newEnergyState } from "./accounting.ts";
import { rollUp, spreadSpan } from "./buckets.ts";

const MAX_CHECKS = 90; // Deno KV: 100 checks per atomic commit
const MAX_MUTATIONS = 900; // Deno KV: 1000 mutations per atomic commit
const MAX_ATTEMPTS = 8;
const SITE_TTL_MS = 60_000;
/** distinct minutes one meter may touch per commit (each costs up to 3 sums, plus hours/days) */
const MINUTES_PER_ROUND = 120;

export interface AccountantOptions {
  log: Logger;
  /** where a meter's energy belongs now (inventory, else a manual mapping) */
  siteOf?: (deviceId: string) => Promise<string | null>;
  accounting?: Partial<AccountingOptions>;
  tzOffsetMin?: number;
  now?: () => number;
  /** after each group: how many samples were applied or skipped as replays */
  onCommitted?: (samples: number) => void;
}

export class EnergyAccountant {
  #queue: EnergySample[] = [];
  #draining: Promise<void> | null = null;
  #stopped = false;
  #cache = new Map<string, { value: StoredEnergyState | null; versionstamp: string | null }>();
  #sites = new Map<string, { site: string | null; at: number }>();
  #opts: AccountingOptions;

  constructor(private kv: Deno.Kv, private o: AccountantOptions) {
    this.#opts = { ...DEFAULT_ACCOUNTING, ...o.accounting };
  }

  submit(samples: EnergySample[]) {
    if (this.#stopped || samples.length === 0) return;
    for (const s of samples) this.#queue.push(s);
    this.#kick();
  }

  /** Resolves once everything submitted so far is committed (tests, benchmarks, shutdown). */
  async idle(): Promise<void> {
    while (this.#draining || this.#queue.length > 0) {
      if (!this.#draining) this.#kick();
      await this.#draining;
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
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #drain() {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      const byDevice = new Map<string, EnergySample[]>();
      for (const s of batch) {
        let list = byDevice.get(s.deviceId);
        if (!list) byDevice.set(s.deviceId, list = []);
        list.push(s);
      }
      // a backlog (a day of 1 Hz readings) touches too many minute buckets for one commit: cut it in rounds
      const rounds: Map<string, EnergySample[]>[] = [];
      for (const [deviceId, list] of byDevice) {
        list.sort((a, b) => a.ts - b.ts);
        let r = 0, minutes = new Set<number>(), chunk: EnergySample[] = [];
        const flush = () => {
          if (chunk.length === 0) return;
          (rounds[r] ??= new Map()).set(deviceId, chunk);
          r++;
          chunk = [];
          minutes = new Set();
        };
        for (const smp of list) {
          minutes.add(Math.floor(smp.ts / 60_000));
          if (minutes.size > MINUTES_PER_ROUND) flush();
          chunk.push(smp);
          minutes.add(Math.floor(smp.ts / 60_000));
        }
        flush();
      }
      for (const round of rounds) {
        const devices = [...round.keys()];
        for (let i = 0; i < devices.length; i += MAX_CHECKS) {
          const group = new Map(devices.slice(i, i + MAX_CHECKS).map((d) => [d, round.get(d)!]));
          let n = 0;
          for (const l of group.values()) n += l.length;
          try {
            await this.#commitGroup(group);
          } catch (e) {
            this.o.log.error("energy commit failed; these samples are skipped (the next counter value covers them)", { err: e });
          }
          this.o.onCommitted?.(n);
        }
      }
    }
  }

  async #siteOf(deviceId: string): Promise<string | null> {
    const now = (this.o.now ?? Date.now)();
    const c = this.#sites.get(deviceId);
    if (c && now - c.at < SITE_TTL_MS) return c.site;
    const site = this.o.siteOf ? await this.o.siteOf(deviceId).catch(() => c?.site ?? null) : null;
    this.#sites.set(deviceId, { site, at: now });
    return site;
  }

  async #commitGroup(group: Map<string, EnergySample[]>): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const missing = [...group.keys()].filter((d) => !this.#cache.has(d));
      if (missing.length) {
        for (const [d, e] of await loadEnergyStates(this.kv, missing)) this.#cache.set(d, { value: e.value, versionstamp: e.versionstamp });
      }
      // account every device; then commit in as few ops as the mutation limit allows
      const writes: { next: StoredEnergyState; versionstamp: string | null; rollups: ReturnType<typeof rollUp>; cost: number }[] = [];
      for (const [deviceId, samples] of group) {
        const cur = this.#cache.get(deviceId)!;
        const site = await this.#siteOf(deviceId);
        let st: StoredEnergyState = cur.value ?? { ...newEnergyState(deviceId), site };
        const minutes = new Map<number, number>();
        let changed = cur.value === null || st.site !== site;
        for (const s of samples) {
          const r = accountSample(st, s, this.#opts);
          if (r.state === st) continue;
          changed = true;
          st = { ...r.state, site };
          for (const sp of r.spans) {
            for (const [m, mwh] of spreadSpan(sp, this.o.tzOffsetMin)) minutes.set(m, (minutes.get(m) ?? 0) + mwh);
          }
        }
        if (!changed) continue;
        const rollups = rollUp(minutes, this.o.tzOffsetMin);
        let cost = 2;
        for (const m of rollups.values()) cost += m.size * (site ? 3 : 2);
        writes.push({ next: { ...st, site }, versionstamp: cur.versionstamp, rollups, cost });
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
            group.delete(w.next.deviceId);
          }
        } else {
          // another instance moved some of these meters on: re-read them and account again
          for (const w of part) this.#cache.delete(w.next.deviceId);
          failed = true;
        }
      }
      if (!failed) return;
      // devices whose write succeeded left the group; unchanged ones are harmless to re-run
    }
    this.o.log.error("energy commit kept conflicting", { devices: group.size });
  }
}
