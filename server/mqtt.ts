/**
 * The server's own MQTT connection, shared by every extension: one client,
 * handlers routed by topic filter, resubscribed by mqtt.js after a broker restart.
 */
import mqtt, { type MqttClient } from "mqtt";
import { topicMatches } from "../shared/topics.ts";
import type { Logger } from "../shared/log.ts";

export type MessageHandler = (topic: string, payload: Uint8Array) => void | Promise<void>;

export interface ServerMqtt {
  client: MqttClient;
  /** subscribe (QoS 1) and route matching messages to handler */
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
  publish(topic: string, payload: Uint8Array | string, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  connected(): boolean;
  close(): Promise<void>;
}

export async function connectServerMqtt(
  url: string,
  opts: { clientId: string; username?: string; password?: string; log: Logger },
): Promise<ServerMqtt> {
  const client = mqtt.connect(url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    clean: true,
    reconnectPeriod: 500,
    connectTimeout: 5_000,
    protocolVersion: 4, // aedes speaks 3.1.1; Mosquitto and EMQX accept $share subscriptions from 3.1.1 clients too
  });
  const routes: { filter: string; handler: MessageHandler }[] = [];
  client.on("message", (topic, payload) => {
    for (const r of routes) {
      if (topicMatches(r.filter, topic)) {
        try {
          const res = r.handler(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
          if (res instanceof Promise) res.catch((e) => opts.log.error("mqtt handler failed", { topic, err: e }));
        } catch (e) {
          opts.log.error("mqtt handler failed", { topic, err: e });
        }
      }
    }
  });
  let wasConnected = false;
  client.on("connect", () => {
    if (wasConnected) opts.log.info("reconnected to MQTT broker", { url });
    wasConnected = true;
  });
  client.on("offline", () => opts.log.warn("MQTT broker unreachable, retrying", { url }));
  client.on("error", (e) => opts.log.warn("MQTT error", { err: e }));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`cannot reach MQTT broker at ${url}`)), 10_000);
    client.once("connect", () => {
      clearTimeout(t);
      resolve();
    });
  });
  return {
    client,
    async subscribe(filter, handler) {
      routes.push({ filter, handler });
      await client.subscribeAsync(filter, { qos: 1 });
    },
    async publish(topic, payload, o = {}) {
      await client.publishAsync(topic, typeof payload === "string" ? payload : Buffer.from(payload), {
        qos: o.qos ?? 1,
        retain: o.retain ?? false,
      });
    },
    connected: () => client.connected,
    close: () => client.endAsync(true),
  };
}
