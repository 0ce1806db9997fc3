/**
 * The in-process event bus features talk through (zigbee2mqtt style): ingest
 * publishes what it committed, other extensions react. Cross-instance state
 * never lives here — only in KV — so a second server instance stays correct.
 */
import type { Reading } from "../shared/telemetry.ts";
import type { UnitPresence } from "./openbeken/presence.ts";
import type { Logger } from "../shared/log.ts";

export interface BusEvents {
  /** readings just committed to KV (by this instance) */
  "telemetry.committed": { agentId: string; seq: number; readings: Reading[] };
  /** an OpenBeken unit appeared, got its MAC, went online/offline, rebooted (uptime fell) or reports another version; after commit */
  "openbeken.unit": {
    topic: string;
    change: "discovered" | "identified" | "online" | "offline" | "rebooted" | "version";
    presence: UnitPresence;
    previousVersion?: string | null;
  };
  /** readings made from OpenBeken messages, just committed; counterWh is set when the message was the unit's own counter */
  "openbeken.committed": {
    samples: { reading: Reading; counterWh: number | null; hasCounter: boolean; bootedAt: number | null }[];
  };
  /** the energy accountant committed (or skipped as replays/duplicates) this many samples */
  "energy.accounted": { samples: number };
  /** after each ingest commit round: readings that arrived meanwhile and wait for the next (background work yields to it) */
  "ingest.backlog": { readings: number };
  /** the history compactor moved this much of the ingest log into per-meter blocks */
  "history.compacted": {
    entries: number;
    readings: number;
    blocks: number;
    ms: number;
    pauseMs: number;
    yielded: boolean;
  };
  /** a bench agent's backup was stored (new content or seen again); batchId when a flash batch sent it */
  "flash.backup.stored": {
    sha256: string;
    mac: string | null;
    agentId: string;
    port: string | null;
    batchId: string | null;
  };
  /** an MQTT payload or API body that was refused */
  "ingest.rejected": { source: string; code: string; message: string };
}

type Handler<T> = (payload: T) => void | Promise<void>;
interface Subscription {
  handler: Handler<never>;
  /** which feature subscribed: named in the log when its handler fails */
  owner: string;
}

export class EventBus {
  #handlers = new Map<keyof BusEvents, Set<Subscription>>();
  #log?: Logger;

  /** Without a logger (unit tests), a failing handler's error goes to the console instead of vanishing. */
  constructor(log?: Logger) {
    this.#log = log;
  }

  on<K extends keyof BusEvents>(event: K, handler: Handler<BusEvents[K]>, owner = "unnamed"): () => void {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, set = new Set());
    const sub: Subscription = { handler: handler as Handler<never>, owner };
    set.add(sub);
    return () => set!.delete(sub);
  }

  /**
   * Handlers run after the emitter's work is done; one failing handler does not stop the others, and every
   * failure (thrown or rejected) is logged with the event and the subscriber's name.
   */
  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void {
    for (const sub of this.#handlers.get(event) ?? []) {
      const failed = (e: unknown) => this.#report(event, sub.owner, e);
      try {
        const r = (sub.handler as Handler<BusEvents[K]>)(payload);
        if (r instanceof Promise) r.catch(failed);
      } catch (e) {
        failed(e);
      }
    }
  }

  #report(event: string, owner: string, err: unknown): void {
    if (this.#log) this.#log.error("event handler failed", { event, owner, err });
    else console.error(`event handler failed: ${event} (${owner})`, err);
  }
}
