/**
 * OpenBeken ingest: deployed units publish their own text topics to the same
 * broker (openbeken.md §1–2). Messages are parsed on arrival (stamped with the
 * receive time), queued, and committed in batched atomic commits: each unit's
 * presence record (checked against the versionstamp it was read at, so a
 * second server instance never loses an update), its readings' history and
 * latest value through the meters module. After a commit, presence changes
 * and readings go out on the bus (energy accounting listens there).
 */
import { CodecError } from "../../shared/errors.ts";
import { type ObkMessage, parseObkMessage } from "../../shared/openbeken/mqtt.ts";
import { sharedSubscription } from "../../shared/topics.ts";
import {
  addReadings,
  countRefusedReadings,
  countRejection,
  IngestCache,
  OBK_SOURCE,
  refusedPerMeter,
  SourceIndexCache,
} from "../meters/store.ts";
import { commitRetryingLocks } from "../kv/retry.ts";
import { loadPresence, type UnitPresence, writePresence } from "./presence.ts";
import { findUnitByMac, findUnitByTopic, recordUnitSeen } from "../inventory/units.ts";
import type { Extension, ServerContext } from "../context.ts";
import { applyObkMessage, type UnitEvent, type UnitSample } from "./unit.ts";

/** OBK's own topics: `<topic>/<item>`, `<topic>/<name>/get`, and Home Assistant discovery configs. */
export const OBK_FILTERS = ["+/+", "+/+/get", "homeassistant/+/+/config"];

/** Commit budget: Deno KV allows 1000 mutations and 100 checks per atomic commit. */
const MAX_MUTATIONS = 900;
const MAX_UNITS_PER_COMMIT = 80;
/**
 * Readings share packed log entries (~76 B each, 60 KB an entry): a mutation
 * per ~700 readings, not per reading. The cap keeps a commit well under KV's
 * 800 KiB.
 */
const READINGS_PER_MUTATION = 700;
const MAX_READINGS_PER_COMMIT = 6000;
const MAX_QUEUED = 200_000;
const MAX_ATTEMPTS = 6;

interface Queued {
  msg: ObkMessage;
  at: number;
}

export function openbekenIngest(): Extension {
  let ctx: ServerContext;
  let queue: Queued[] = [];
  let draining: Promise<void> | null = null;
  let stopped = false;
  /** read-through cache of presence records with the versionstamp they were read at */
  const cache = new Map<string, { value: UnitPresence | null; versionstamp: string | null }>();
  const sourceIndex = new SourceIndexCache();
  const owners = new IngestCache();

  const reject = (source: string, e: unknown) => {
    const code = e instanceof CodecError ? e.code : "invalid";
    const message = (e as Error).message;
    ctx.log.debug("openbeken message rejected", { source, code, message });
    ctx.bus.emit("ingest.rejected", { source, code, message });
    countRejection(ctx.kv, `openbeken_${code}`).catch(() => {});
  };

  const onMessage = (topic: string, payload: Uint8Array) => {
    const at = ctx.clock.now();
    if (topic === "homeassistant/status") return;
    let msg: ObkMessage | null;
    try {
      msg = parseObkMessage(topic, payload);
    } catch (e) {
      return reject(topic, e);
    }
    if (!msg) return;
    if (queue.length >= MAX_QUEUED) {
      ctx.log.warn("openbeken queue full; message dropped", { topic });
      return;
    }
    queue.push({ msg, at });
    kick();
  };

  /**
   * Take the next group of messages that fits one commit. Messages of units
   * that do not fit stay queued in order (a unit's messages are never
   * reordered), while later messages of units already in the round still join.
   */
  const takeRound = (): Map<string, Queued[]> => {
    const round = new Map<string, Queued[]>();
    const deferred = new Set<string>();
    const rest: Queued[] = [];
    let mutations = 0, readings = 0;
    for (const q of queue) {
      const t = q.msg.topic;
      const reading = q.msg.kind === "meter" || q.msg.kind === "channel" ? 1 : 0;
      const cost = reading / READINGS_PER_MUTATION; // a share of a log entry
      const isNew = !round.has(t);
      if (
        deferred.has(t) || readings + reading > MAX_READINGS_PER_COMMIT ||
        (isNew && (round.size >= MAX_UNITS_PER_COMMIT || mutations + cost + 5 > MAX_MUTATIONS)) ||
        mutations + cost > MAX_MUTATIONS
      ) {
        deferred.add(t);
        rest.push(q);
        continue;
      }
      if (isNew) {
        round.set(t, []);
        mutations += 5; // presence + MAC index (2) + latest block + source index
      }
      round.get(t)!.push(q);
      mutations += cost;
      readings += reading;
    }
    queue = rest;
    return round;
  };

  const commitRound = async (round: Map<string, Queued[]>) => {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const missing = [...round.keys()].filter((t) => !cache.has(t));
      if (missing.length) {
        for (const [t, e] of await loadPresence(ctx.kv, missing)) {
          cache.set(t, { value: e.value, versionstamp: e.versionstamp });
        }
      }
      const op = ctx.kv.atomic();
      const now = ctx.clock.now();
      const next = new Map<string, UnitPresence>();
      const events: { topic: string; e: UnitEvent }[] = [];
      const samples: UnitSample[] = [];
      for (const [topic, msgs] of round) {
        const prev = cache.get(topic)!;
        let unit = prev.value;
        for (const q of msgs) {
          try {
            const r = applyObkMessage(unit, q.msg, q.at);
            unit = r.unit;
            if (r.sample) samples.push(r.sample);
            for (const e of r.events) events.push({ topic, e });
          } catch (e) {
            if (attempt === 1) reject(topic, e);
          }
        }
        if (unit && unit !== prev.value) {
          writePresence(op, unit, prev);
          next.set(topic, unit);
        }
      }
      // a meter id belongs to whoever reported it first: a unit's readings for an id an agent owns are refused
      const refused = await owners.claim(ctx.kv, OBK_SOURCE, samples.map((s) => s.reading.deviceId), (id) => id);
      const owned = refused.size ? samples.filter((s) => !refused.has(s.reading.deviceId)) : samples;
      const readings = addReadings(op, owned.map((s) => s.reading), now, sourceIndex);
      const res = await commitRetryingLocks(op);
      if (res.ok) {
        readings.committed();
        for (const [t, u] of next) {
          for (const [code, w] of Object.entries(u.warnings ?? {})) {
            if (!cache.get(t)?.value?.warnings?.[code]) {
              ctx.log.warn("openbeken unit warning", { topic: t, code, message: w.message });
            }
          }
          cache.set(t, { value: u, versionstamp: res.versionstamp });
        }
        const toLink = new Set<string>();
        for (const { topic, e } of events) {
          const presence = next.get(topic)!;
          ctx.bus.emit("openbeken.unit", { topic, change: e.change, presence, previousVersion: e.previousVersion });
          // the MAC ("identified") usually arrives after `connected` and `build`: OBK trickles 1 item/s
          if (e.change !== "offline") toLink.add(topic);
        }
        for (const topic of toLink) {
          linkInventory(next.get(topic)!).catch((err) => ctx.log.warn("inventory link failed", { topic, err }));
        }
        if (owned.length) ctx.bus.emit("openbeken.committed", { samples: owned });
        if (owned.length < samples.length) {
          ctx.log.warn("openbeken readings refused: meter id owned by an agent", { meters: [...refused].slice(0, 5) });
          const perMeter = refusedPerMeter(owners, OBK_SOURCE, samples.map((s) => s.reading.deviceId), refused);
          countRefusedReadings(ctx.kv, perMeter, now).catch((e) => ctx.log.warn("counter update failed", { err: e }));
        }
        return;
      }
      // another instance updated one of these units: re-read them and apply again
      for (const t of round.keys()) cache.delete(t);
    }
    ctx.log.error("openbeken commit kept conflicting; messages dropped", { units: round.size });
  };

  /** Tell inventory the unit was seen and what it runs; by MAC first, topic second. */
  const linkInventory = async (p: UnitPresence) => {
    const unit = (p.mac && p.mac.length === 17 ? await findUnitByMac(ctx.kv, p.mac) : null) ??
      await findUnitByTopic(ctx.kv, p.topic);
    if (unit) await recordUnitSeen(ctx.kv, unit.id, { at: p.lastSeen, firmware: p.version });
  };

  const drain = async () => {
    while (queue.length > 0 && !stopped) {
      const round = takeRound();
      try {
        await commitRound(round);
      } catch (e) {
        ctx.log.error("openbeken commit failed", { err: e });
      }
    }
  };

  const kick = () => {
    if (draining || stopped) return;
    draining = drain().finally(() => {
      draining = null;
      if (queue.length > 0) kick();
    });
  };

  return {
    name: "openbeken-ingest",
    async start(c) {
      ctx = c;
      for (const f of OBK_FILTERS) {
        // Meter values are split over instances when a share group is set. Shared subscriptions get no
        // retained messages, so `connected`/state items and discovery (retained) stay plain subscriptions;
        // two instances applying the same presence update is harmless (versionstamp checks, idempotent).
        const shared = c.config.mqttShareGroup && f === "+/+/get";
        await c.mqtt.subscribe(shared ? sharedSubscription(c.config.mqttShareGroup!, f) : f, onMessage);
      }
    },
    async stop() {
      stopped = true;
      await draining;
    },
  };
}
