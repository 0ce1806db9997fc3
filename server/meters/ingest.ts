/**
 * Agent telemetry ingest: CBOR batches from MQTT → validated → committed to KV
 * in batched atomic commits → acknowledged to the agent. The agent keeps a
 * batch in its disk spool until this ack arrives, and the KV ledger makes a
 * replayed batch a no-op, so together nothing is lost and nothing is doubled.
 */
import { CodecError } from "../../shared/errors.ts";
import { decodeTelemetryBatch, encodeTelemetryAck, type TelemetryBatch } from "../../shared/telemetry.ts";
import { agentIdFromTopic, sharedSubscription, topics } from "../../shared/topics.ts";
import {
  addIngestCounters,
  commitParts,
  countRefusedReadings,
  countRejection,
  IngestCache,
  refusedPerMeter,
  type RefusedReadings,
  splitBatch,
} from "./store.ts";
import type { Extension, ServerContext } from "../context.ts";

/** A batch's identity in the ledger: its agent, its spool's epoch and its sequence number. */
const batchKey = (b: { agentId: string; epoch?: string; seq: number }) => `${b.agentId}/${b.epoch}/${b.seq}`;

/** Upper bound of readings waiting for KV; beyond it we stop acking so agents keep spooling. */
const MAX_QUEUED_READINGS = 500_000;

export function telemetryIngest(): Extension {
  let ctx: ServerContext;
  let queue: TelemetryBatch[] = [];
  let queuedReadings = 0;
  let draining: Promise<void> | null = null;
  let stopped = false;
  const cache = new IngestCache();
  const warned = new Set<string>();

  const ack = (agentId: string, seq: number, status: "committed" | "duplicate" | "rejected", epoch?: string) => {
    // not awaited: a broker outage must not stall the writer; the agent re-sends unacked batches
    const body = epoch === undefined ? { v: 1 as const, seq, status } : { v: 1 as const, epoch, seq, status };
    ctx.mqtt.publish(topics.telemetryAck(agentId), encodeTelemetryAck(body))
      .catch((e) => ctx.log.warn("ack not delivered", { agentId, seq, err: e }));
  };

  const drain = async () => {
    while (queue.length > 0 && !stopped) {
      // a batch can arrive more than once in a round (after a server restart the agent's MQTT client re-sends what
      // was unacknowledged and the agent re-publishes its spool): commit it once, acknowledge every copy
      const batches: TelemetryBatch[] = [], copies: TelemetryBatch[] = [];
      const inRound = new Set<string>();
      for (const b of queue) {
        const key = batchKey(b);
        if (inRound.has(key)) copies.push(b);
        else {
          inRound.add(key);
          batches.push(b);
        }
      }
      queue = [];
      queuedReadings = 0;
      let outcome, admitted: TelemetryBatch[] = [];
      const refusedIn = new Map<TelemetryBatch, RefusedReadings[]>();
      for (let attempt = 1; !outcome; attempt++) {
        try {
          // a meter belongs to the agent that reported it first: other agents' readings for it are refused
          admitted = [];
          for (const b of batches) {
            const a = await cache.admit(ctx.kv, b);
            admitted.push(a.batch);
            if (a.refused.size > 0) {
              refusedIn.set(
                a.batch,
                refusedPerMeter(
                  cache,
                  b.agentId,
                  b.readings.map((r) => r.deviceId),
                  a.refused,
                ),
              );
            }
            const news = [...a.refused].filter((id) => !warned.has(`${b.agentId}\u0000${id}`));
            if (news.length > 0) {
              // once per agent and meter (the counter in /api/health keeps counting)
              if (warned.size > 10_000) warned.clear();
              for (const id of news) warned.add(`${b.agentId}\u0000${id}`);
              ctx.log.warn("readings refused: meters owned by another agent", {
                agentId: b.agentId,
                seq: b.seq,
                meters: news.slice(0, 5),
              });
            }
          }
          outcome = await commitParts(ctx.kv, admitted.flatMap(splitBatch), ctx.clock.now(), cache);
        } catch (e) {
          // SQLite "database is locked" when instances share a local KV file: brief, worth a retry
          if (attempt < 4 && !stopped) {
            await ctx.clock.sleep(25 * 2 ** attempt);
            continue;
          }
          // KV unavailable: these batches stay unacked in their agents' spools and are re-sent
          ctx.log.error("KV commit failed; batches left unacked", { batches: batches.length, err: e });
          break;
        }
      }
      if (!outcome) continue;
      const dupParts = new Set(outcome.duplicate.map(batchKey));
      let committed = 0, duplicate = copies.length;
      for (const b of copies) ack(b.agentId, b.seq, "duplicate", b.epoch);
      const refused: RefusedReadings[] = [];
      for (const b of admitted) {
        const dup = dupParts.has(batchKey(b));
        if (dup) duplicate++;
        else {
          committed++;
          refused.push(...refusedIn.get(b) ?? []); // counted once: a replay was counted when it first came
        }
        ack(b.agentId, b.seq, dup ? "duplicate" : "committed", b.epoch);
        if (!dup) ctx.bus.emit("telemetry.committed", { agentId: b.agentId, seq: b.seq, readings: b.readings });
      }
      await addIngestCounters(ctx.kv, { batches_committed: committed, batches_duplicate: duplicate })
        .catch((e) => ctx.log.warn("counter update failed", { err: e }));
      if (refused.length > 0) {
        await countRefusedReadings(ctx.kv, refused, ctx.clock.now())
          .catch((e) => ctx.log.warn("counter update failed", { err: e }));
      }
      ctx.bus.emit("ingest.backlog", { readings: queuedReadings });
    }
  };

  const reject = async (source: string, e: unknown, agentId: string | null, seq?: number) => {
    const code = e instanceof CodecError ? e.code : "invalid";
    const message = (e as Error).message;
    ctx.log.warn("telemetry batch rejected", { source, code, message });
    ctx.bus.emit("ingest.rejected", { source, code, message });
    await countRejection(ctx.kv, code).catch(() => {});
    if (agentId && seq !== undefined) ack(agentId, seq, "rejected");
  };

  const onMessage = (topic: string, payload: Uint8Array) => {
    const topicAgent = agentIdFromTopic(topic);
    let batch: TelemetryBatch;
    try {
      batch = decodeTelemetryBatch(payload);
    } catch (e) {
      return reject(topic, e, null);
    }
    if (batch.agentId !== topicAgent) {
      return reject(
        topic,
        new CodecError("topic_mismatch", `batch of agent ${batch.agentId} published on ${topic}`),
        null,
      );
    }
    if (queuedReadings > MAX_QUEUED_READINGS) {
      ctx.log.warn("ingest queue full; batch left for the agent to re-send", {
        agentId: batch.agentId,
        seq: batch.seq,
      });
      return;
    }
    queue.push(batch);
    queuedReadings += batch.readings.length;
    kick();
  };

  const kick = () => {
    if (draining || stopped) return;
    draining = drain().finally(() => {
      draining = null;
      if (queue.length > 0) kick(); // arrived between the loop's last check and here
    });
  };

  return {
    name: "telemetry-ingest",
    async start(c) {
      ctx = c;
      const filter = c.config.mqttShareGroup
        ? sharedSubscription(c.config.mqttShareGroup, topics.allTelemetry)
        : topics.allTelemetry;
      await c.mqtt.subscribe(filter, onMessage);
    },
    async stop() {
      await draining;
      stopped = true;
    },
  };
}
