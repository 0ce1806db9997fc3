/**
 * A scripted OpenBeken unit for tests: a real MQTT client with OBK's will
 * (`<topic>/connected` offline, retained) that publishes OBK's topics with
 * OBK's payload texts. Only the device side; the server parses on its own.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { TestServer } from "../helpers/server.ts";

export class ObkUnit {
  private constructor(readonly topic: string, readonly client: MqttClient) {}

  static async connect(srv: TestServer, topic: string, opts: { announce?: boolean } = {}): Promise<ObkUnit> {
    const client = await mqtt.connectAsync(srv.brokerUrl, {
      clientId: topic,
      ...(await srv.deviceCredentials(topic)),
      protocolVersion: 4,
      keepalive: 100,
      reconnectPeriod: 0,
      will: { topic: `${topic}/connected`, payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    const u = new ObkUnit(topic, client);
    if (opts.announce !== false) await u.raw(`${topic}/connected`, "online", { retain: true, qos: 1 });
    return u;
  }

  raw(topic: string, payload: string, opts: { retain?: boolean; qos?: 0 | 1 | 2 } = {}) {
    return this.client.publishAsync(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false });
  }

  /** a self-state item (no /get): host, build, mac, ip, uptime, ... */
  item(name: string, value: string) {
    return this.raw(`${this.topic}/${name}`, value);
  }

  /** a meter value (`/get`): voltage, current, power, 138, energycounter, or a channel number */
  value(name: string, value: string) {
    return this.raw(`${this.topic}/${name}/get`, value);
  }

  /** drop the TCP connection without DISCONNECT, so the broker publishes the will */
  async crash() {
    this.client.stream.destroy();
    await this.client.endAsync(true);
  }

  async close() {
    await this.client.endAsync();
  }
}
