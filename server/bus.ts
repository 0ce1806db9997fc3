/**
 * The in-process event bus features talk through (zigbee2mqtt style): ingest
 * publishes what it committed, other extensions react. Cross-instance state
 * never lives here — only in KV — so a second server instance stays correct.
 */
import type { Reading } from "../shared/telemetry.ts";
import type { UnitPresence } from "./db/presence.ts";

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

export class EventBus {
  #handlers = new Map<keyof BusEvents, Set<Handler<never>>>();

  on<K extends keyof BusEvents>(event: K, handler: Handler<BusEvents[K]>): () => void {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, set = new Set());
    set.add(handler as Handler<never>);
    return () => set!.delete(handler as Handler<never>);
  }

  /** Handlers run after the emitter's work is done; one failing handler does not stop the others. */
  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K], onError?: (e: unknown) => void): void {
    for (const h of this.#handlers.get(event) ?? []) {
      try {
        const r = (h as Handler<BusEvents[K]>)(payload);
        if (r instanceof Promise) r.catch((e) => onError?.(e));
      } catch (e) {
        onError?.(e);
      }
    }
  }
}
