/**
 * The telemetry uplink: spooled batches → MQTT (QoS 1) → wait for the
 * server's ack (sent after its KV commit) → delete from the spool. Unacked
 * batches are re-sent after `ackTimeoutMs` and after every reconnect, in order.
 */
import mqtt, { type MqttClient } from "mqtt";
import { type Clock, systemClock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { decodeTelemetryAck, encodeTelemetryBatch, type Reading } from "../../shared/telemetry.ts";
import { topics } from "../../shared/topics.ts";
import type { TelemetrySpool } from "./spool.ts";

export interface UplinkOptions {
  agentId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  spool: TelemetrySpool;
  log: Logger;
  clock?: Clock;
  ackTimeoutMs?: number;
  /** batches published but not yet acked, at most */
  maxInflight?: number;
  /** called when the server acks a batch, with when it was (last) published; for latency figures */
  onAck?: (seq: number, publishedAt: number, status: string) => void;
}

export interface UplinkStats {
  connected: boolean;
  spooled: number;
  inflight: number;
  published: number;
  acked: number;
  rejected: number;
}

export class TelemetryUplink {
  readonly client: MqttClient;
  #inflight = new Map<number, number>(); // seq → sent at
  #pumping = false;
  #pumpAgain = false;
  #timer: ReturnType<typeof setInterval>;
  #stats = { published: 0, acked: 0, rejected: 0 };
  #ackWaiters = new Set<() => void>();
  #closed = false;

  constructor(private o: UplinkOptions) {
    const clock = o.clock ?? systemClock;
    this.client = mqtt.connect(o.mqttUrl, {
      clientId: `meterfleet-agent-${o.agentId}`,
      username: o.username,
      password: o.password,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      protocolVersion: 4, // aedes speaks 3.1.1; Mosquitto and EMQX accept $share subscriptions from 3.1.1 clients too
      will: { topic: topics.agentStatus(o.agentId), payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    this.client.on("connect", () => {
      o.log.info("connected to broker", { url: o.mqttUrl });
      this.#inflight.clear(); // whatever was in flight is re-sent in order
      this.client.subscribe(topics.telemetryAck(o.agentId), { qos: 1 });
      this.client.publish(topics.agentStatus(o.agentId), "online", { qos: 1, retain: true });
      this.kick();
    });
    this.client.on("offline", () => {
      o.log.warn("broker unreachable; spooling to disk", { url: o.mqttUrl, spooled: o.spool.pending().length });
      this.#inflight.clear();
    });
    this.client.on("error", (e) => o.log.warn("mqtt error", { err: e }));
    // other parts of the agent (flash jobs) share this connection: only acks are ours
    this.client.on("message", (topic, payload) => {
      if (topic === topics.telemetryAck(o.agentId)) void this.#onAck(payload);
    });
    this.#timer = setInterval(() => {
      const now = clock.now();
      for (const [seq, at] of this.#inflight) {
        if (now - at > (o.ackTimeoutMs ?? 10_000)) this.#inflight.delete(seq);
      }
      this.kick();
    }, 1000);
  }

  /** Spool a batch of readings and send it when the broker is reachable. Returns its seq. */
  async send(readings: Reading[]): Promise<number> {
    const seq = await this.o.spool.nextSeq();
    await this.o.spool.put(
      seq,
      encodeTelemetryBatch({ v: 1, agentId: this.o.agentId, epoch: this.o.spool.epoch, seq, readings }),
    );
    this.kick();
    return seq;
  }

  stats(): UplinkStats {
    return {
      connected: this.client.connected,
      spooled: this.o.spool.pending().length,
      inflight: this.#inflight.size,
      ...this.#stats,
    };
  }

  /** Resolves when every spooled batch has been acked (or the timeout passes). */
  async drained(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.o.spool.pending().length > 0) {
      if (Date.now() > deadline) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.#ackWaiters.add(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return true;
  }

  kick() {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    this.#pump().catch((e) => this.o.log.error("uplink pump failed", { err: e })).finally(() => {
      this.#pumping = false;
      if (this.#pumpAgain && !this.#closed) {
        this.#pumpAgain = false;
        this.kick();
      }
    });
  }

  async #pump() {
    const clock = this.o.clock ?? systemClock;
    const max = this.o.maxInflight ?? 64;
    for (const seq of [...this.o.spool.pending()]) {
      if (!this.client.connected || this.#closed) return;
      if (this.#inflight.size >= max) return;
      if (this.#inflight.has(seq)) continue;
      let payload: Uint8Array;
      try {
        payload = await this.o.spool.read(seq);
      } catch {
        continue; // acked and removed meanwhile
      }
      this.#inflight.set(seq, clock.now());
      this.#stats.published++;
      // QoS 1 to the broker; the end-to-end confirmation is the server's ack
      this.client.publish(topics.telemetry(this.o.agentId), Buffer.from(payload), { qos: 1 });
    }
  }

  async #onAck(payload: Uint8Array) {
    let ack;
    try {
      ack = decodeTelemetryAck(new Uint8Array(payload));
    } catch (e) {
      this.o.log.warn("ignoring malformed ack", { err: e });
      return;
    }
    // an ack for a batch of an earlier spool (wiped while its batch was in flight) is not one of ours
    if (ack.epoch !== undefined && ack.epoch !== this.o.spool.epoch) return;
    const publishedAt = this.#inflight.get(ack.seq);
    this.#inflight.delete(ack.seq);
    if (publishedAt !== undefined) this.o.onAck?.(ack.seq, publishedAt, ack.status);
    if (ack.status === "rejected") {
      this.#stats.rejected++;
      this.o.log.error("server rejected batch; kept in spool/rejected", { seq: ack.seq });
      await this.o.spool.reject(ack.seq);
    } else if (await this.o.spool.remove(ack.seq)) {
      this.#stats.acked++;
    }
    for (const w of this.#ackWaiters) w();
    this.#ackWaiters.clear();
    this.kick();
  }

  async close() {
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.client.connected) {
      await this.client.publishAsync(topics.agentStatus(this.o.agentId), "offline", { qos: 1, retain: true })
        .catch(() => {});
    }
    await this.client.endAsync(true);
  }
}
