/**
 * The history feature: moves the ingest log into per-meter history blocks
 * (server/history/store.ts) every `historyCompactMs`, on one server instance at
 * a time (a KV lease; another instance takes over when it lapses). Retention
 * of those blocks is the energy feature's setting (RAW_RETENTION_DAYS).
 */
import { compactLog, recordSweep } from "./store.ts";
import { holdLease, releaseLease } from "../kv/leases.ts";
import type { Extension, ServerContext } from "../context.ts";

const LEASE = "history-compactor";
/**
 * Log entries per compaction round (~400 readings each). Small rounds with a
 * pause between them spread the work: one big round every interval stalls
 * ingest acks for a second or more at 20,000 meters (bench/ingest.ts).
 * The log is ordered by source, so a round mostly covers whole agents.
 */
const ENTRIES_PER_ROUND = 100;
/** at least this long between rounds, and at least as long as the round took (compaction gets half the time at most) */
const PAUSE_BETWEEN_ROUNDS_MS = 100;
/**
 * Ingest first: while readings queue up behind ingest's commits (more than
 * about half a second of 20,000 meters), the pause is this many times the
 * round, so compaction takes a fifth of the time and agents get their acks.
 * History stays complete meanwhile (queries read the log too); the log is
 * caught up when the load eases.
 */
export const INGEST_BACKLOG_YIELD_READINGS = 10_000;
const YIELD_FACTOR = 4;
/** a backlog report older than this no longer counts */
const BACKLOG_FRESH_MS = 2_000;

/** The pause after a compaction round that took `roundMs`, given when ingest last reported a backlog. */
function pauseAfterRound(
  roundMs: number,
  now: number,
  ingestBehindAt: number | null,
): { pauseMs: number; yielded: boolean } {
  const pause = Math.max(PAUSE_BETWEEN_ROUNDS_MS, roundMs);
  const yielded = ingestBehindAt !== null && now - ingestBehindAt < BACKLOG_FRESH_MS;
  return { pauseMs: yielded ? pause * YIELD_FACTOR : pause, yielded };
}

export function historyCompactor(): Extension {
  let timer: ReturnType<typeof setInterval> | null = null;
  let running: Promise<void> | null = null;
  let started: ServerContext | null = null;
  let ingestBehindAt: number | null = null;
  const stopping = new AbortController();
  let offBacklog: (() => void) | null = null;

  const compact = async (ctx: ServerContext) => {
    const ttl = Math.max(30_000, 3 * ctx.config.historyCompactMs);
    // one sweep over the log in rounds, renewing the lease between them
    let cursor: string | undefined;
    const sweep = { entries: 0, readings: 0, blocks: 0, startedAt: ctx.clock.now(), t0: performance.now() };
    while (!stopping.signal.aborted && await holdLease(ctx.kv, LEASE, ctx.config.instanceId, ttl, ctx.clock.now())) {
      const t0 = performance.now();
      const { cursor: next, ...round } = await compactLog(ctx.kv, ENTRIES_PER_ROUND, cursor);
      cursor = next;
      if (round.entries === 0) break;
      if (round.quarantined > 0) {
        ctx.log.error("ingest log entries did not decode; set aside under ingest_log_bad", {
          entries: round.quarantined,
        });
      }
      sweep.entries += round.entries;
      sweep.readings += round.readings;
      sweep.blocks += round.blocks;
      const roundMs = performance.now() - t0;
      const pause = pauseAfterRound(roundMs, ctx.clock.now(), ingestBehindAt);
      ctx.bus.emit("history.compacted", { ...round, ms: roundMs, ...pause });
      if (round.entries < ENTRIES_PER_ROUND) break;
      await ctx.clock.sleep(pause.pauseMs, stopping.signal).catch(() => {}); // stop() must not wait out the pause
    }
    if (sweep.entries > 0) {
      const { t0, ...done } = sweep;
      await recordSweep(ctx.kv, { ...done, instance: ctx.config.instanceId, ms: Math.round(performance.now() - t0) });
    }
  };

  return {
    name: "history-compactor",
    start(c) {
      started = c;
      offBacklog = c.bus.on("ingest.backlog", (e) => {
        if (e.readings > INGEST_BACKLOG_YIELD_READINGS) ingestBehindAt = c.clock.now();
      }, "history-compactor");
      const tick = () => {
        if (running || stopping.signal.aborted) return;
        running = compact(c)
          .catch((e) => c.log.warn("history compaction failed; the log stays and is retried", { err: e }))
          .finally(() => (running = null));
      };
      timer = setInterval(tick, c.config.historyCompactMs);
    },
    async stop() {
      stopping.abort();
      offBacklog?.();
      if (timer !== null) clearInterval(timer);
      await running;
      if (started) await releaseLease(started.kv, LEASE, started.config.instanceId).catch(() => {});
    },
  };
}
