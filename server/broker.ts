/**
 * The embedded MQTT broker (aedes) for single-box installs and the demo.
 * With MQTT_URL set, the server uses that broker instead and this is not started.
 */
import { Aedes } from "aedes";
import { createServer, type Server } from "node:net";
import type { Logger } from "../shared/log.ts";

export interface EmbeddedBroker {
  url: string;
  port: number;
  aedes: Aedes;
  close(): Promise<void>;
}

export interface BrokerAuth {
  /** return true to accept the MQTT CONNECT */
  authenticate?(clientId: string, username: string | undefined, password: string | undefined): Promise<boolean>;
  authorizePublish?(clientId: string, username: string | undefined, topic: string): Promise<boolean>;
  authorizeSubscribe?(clientId: string, username: string | undefined, topic: string): Promise<boolean>;
}

export async function startEmbeddedBroker(
  opts: { host: string; port: number; log: Logger; auth?: BrokerAuth },
): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const users = new Map<string, string | undefined>();
  const auth = opts.auth;
  if (auth?.authenticate) {
    aedes.authenticate = (client, username, password, done) => {
      const pw = password ? new TextDecoder().decode(password) : undefined;
      auth.authenticate!(client.id, username, pw).then((ok) => {
        if (ok) users.set(client.id, username);
        done(ok ? null : Object.assign(new Error("not authorized"), { returnCode: 5 }), ok);
      }, (e) => done(e, false));
    };
  }
  if (auth?.authorizePublish) {
    aedes.authorizePublish = (client, packet, done) => {
      if (!client) return done(null); // broker-internal ($SYS, wills)
      auth.authorizePublish!(client.id, users.get(client.id), packet.topic)
        .then((ok) => done(ok ? null : new Error(`publish to ${packet.topic} not allowed`)), (e) => done(e));
    };
  }
  if (auth?.authorizeSubscribe) {
    aedes.authorizeSubscribe = (client, sub, done) => {
      auth.authorizeSubscribe!(client.id, users.get(client.id), sub.topic)
        .then((ok) => done(null, ok ? sub : null), (e) => done(e, null));
    };
  }
  aedes.on("clientDisconnect", (c) => users.delete(c.id));
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  opts.log.info("embedded MQTT broker listening", { host: opts.host, port });
  return {
    url: `mqtt://${opts.host}:${port}`,
    port,
    aedes,
    close: async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
