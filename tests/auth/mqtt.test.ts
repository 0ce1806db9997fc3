/**
 * Must hold over MQTT: every client authenticates; each kind of client may
 * publish/subscribe exactly what MQTT_ACL says, checked on the real embedded
 * broker (table-driven); a revoked agent token stops working at once, live
 * connection included; secrets never reach the log.
 */
import { assert, assertEquals } from "@std/assert";
import mqtt, { type MqttClient } from "mqtt";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { guardOf } from "../../server/auth/broker.ts";
import { filterWithin, mayPublish, maySubscribe, type Principal } from "../../server/auth/policy.ts";
import { internalCredential } from "../../server/auth/tokens.ts";
import { createLogger } from "../../shared/log.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";
import { fetchAs, testSession } from "../helpers/auth.ts";
import { withTempDir } from "../helpers/tmp.ts";

/** Wait for a broker-side effect, failing (not hanging) if it never comes. */
async function within<T>(p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => t = setTimeout(() => rej(new Error(`never happened: ${what}`)), ms)),
    ]);
  } finally {
    clearTimeout(t);
  }
}

async function connect(
  url: string,
  o: { clientId: string; username?: string; password?: string },
): Promise<MqttClient | Error> {
  try {
    return await mqtt.connectAsync(url, { ...o, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  } catch (e) {
    return e as Error;
  }
}

/** A spy on the internal credential that sees everything that gets through the broker. */
async function spy(url: string, kv: Deno.Kv) {
  const cred = await internalCredential(kv);
  const c = await connect(url, { clientId: `meterfleet-server-spy-${crypto.randomUUID().slice(0, 6)}`, ...cred });
  if (c instanceof Error) throw c;
  const seen: string[] = [];
  const waiters: (() => void)[] = [];
  c.on("message", (t, p) => {
    seen.push(`${t} ${p}`);
    waiters.splice(0).forEach((w) => w());
  });
  await c.subscribeAsync(["#", "cmnd/#"], { qos: 1 });
  return {
    client: c,
    seen,
    /** resolves when `entry` has been seen */
    async saw(entry: string) {
      while (!seen.includes(entry)) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

const A: Principal = { kind: "agent", agentId: "bench-a", tokenId: "t" };
const D: Principal = { kind: "device", username: "obkAAAA0001", topics: ["obkAAAA0001"], group: "bekens_n" };

/** [topic or filter, agent bench-a may, device obkAAAA0001 may] */
const PUBLISH: [string, boolean, boolean][] = [
  ["meterfleet/v1/agents/bench-a/telemetry", true, false],
  ["meterfleet/v1/agents/bench-a/status", true, false],
  ["meterfleet/v1/agents/bench-b/telemetry", false, false],
  ["meterfleet/v1/agents/bench-b/ack", false, false],
  ["cmnd/obkAAAA0001/POWER", false, false],
  ["cmnd/bekens_n/ota_http", false, false],
  ["obkAAAA0001/power/get", false, true],
  ["obkAAAA0001/connected", false, true],
  ["tele/obkAAAA0001/SENSOR", false, true],
  ["obkBBBB0002/power/get", false, false],
  ["bekens_n/1/set", false, false],
  ["homeassistant/sensor/OpenBK7231N_AAAA0001_sensor_2/config", false, true],
  ["$SYS/x", false, false],
];
const SUBSCRIBE: [string, boolean, boolean][] = [
  ["meterfleet/v1/agents/bench-a/ack", true, false],
  ["meterfleet/v1/agents/bench-a/#", true, false],
  ["meterfleet/v1/agents/+/telemetry", false, false],
  ["meterfleet/v1/agents/bench-b/ack", false, false],
  ["meterfleet/#", false, false],
  ["#", false, false],
  ["+/+/+", false, false],
  ["cmnd/#", false, false],
  ["cmnd/obkAAAA0001/+", false, true],
  ["cmnd/bekens_n/+", false, true],
  ["obkAAAA0001/+/set", false, true],
  ["bekens_n/+/set", false, true],
  ["obkBBBB0002/#", false, false],
  ["cmnd/obkBBBB0002/+", false, false],
  ["$SYS/#", false, false],
];

Deno.test("MQTT policy table: what agents and OpenBeken units may publish and subscribe", () => {
  for (const [t, a, d] of PUBLISH) {
    assertEquals(mayPublish(A, t), a, `agent publish ${t}`);
    assertEquals(mayPublish(D, t), d, `device publish ${t}`);
  }
  for (const [f, a, d] of SUBSCRIBE) {
    assertEquals(maySubscribe(A, f), a, `agent subscribe ${f}`);
    assertEquals(maySubscribe(D, f), d, `device subscribe ${f}`);
  }
  assertEquals(maySubscribe({ kind: "server" }, "$share/meterfleet/meterfleet/v1/agents/+/telemetry"), true);
  assertEquals(mayPublish({ kind: "user", username: "u", role: "admin", csrf: "" }, "obkAAAA0001/1/set"), false);
  // a unit on a flash-time derived credential has no group of its own, yet subscribes its platform's default
  // group like every OpenBeken build (read only): `bekens_n/+/set` and `cmnd/bekens_n/+`
  const derived: Principal = { kind: "device", username: "obkCCCC0003", topics: ["obkCCCC0003"], group: null };
  for (const f of ["bekens_n/+/set", "bekens_t/+/set", "cmnd/bekens_n/+", "obkCCCC0003/+/get"]) {
    assertEquals(maySubscribe(derived, f), true, f);
  }
  for (const f of ["bekens_n/#", "bekens_x/+/set"]) assertEquals(maySubscribe(derived, f), false, f);
  assertEquals(mayPublish(derived, "bekens_n/1/set"), false);
  assertEquals(filterWithin("a/+/c", "a/#"), true);
  assertEquals(filterWithin("a/#", "a/+"), false);
});

Deno.test("embedded broker enforces it: connects, every table row published and subscribed for real", async () => {
  const srv = await startTestServer();
  const clients: MqttClient[] = [];
  try {
    const url = srv.brokerUrl;
    const agent = await srv.agentCredentials("bench-a");
    const dev = await srv.deviceCredentials("obkAAAA0001");
    // the group is part of the device credential; issue one with a group through the admin API
    const withGroup = await (await srv.api("/api/auth/devices", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "site-1", topics: ["obkAAAA0001"], group: "bekens_n" }),
    })).json();

    // refused connects
    const refused: [string, Parameters<typeof connect>[1]][] = [
      ["anonymous", { clientId: "meterfleet-agent-bench-a" }],
      ["wrong token", { clientId: "meterfleet-agent-bench-a", username: "bench-a", password: "mfa_" + "B".repeat(43) }],
      ["token of another agent", {
        clientId: "meterfleet-agent-bench-b",
        username: "bench-b",
        password: agent.password,
      }],
      ["agent taking another's client id", {
        clientId: "meterfleet-agent-bench-b",
        username: "bench-a",
        password: agent.password,
      }],
      ["agent posing as the server", {
        clientId: "meterfleet-server-x",
        username: "bench-a",
        password: agent.password,
      }],
      ["device with another unit's client id", {
        clientId: "obkBBBB0002",
        username: dev.username,
        password: dev.password,
      }],
      ["server user, wrong password", {
        clientId: "meterfleet-server-y",
        username: "meterfleet-server",
        password: "x",
      }],
    ];
    for (const [what, o] of refused) {
      const c = await connect(url, o);
      if (!(c instanceof Error)) clients.push(c);
      assert(c instanceof Error, `${what}: connected`);
    }

    const s = await spy(url, srv.kv);
    clients.push(s.client);
    let n = 0;
    const kinds = [
      { name: "agent", idx: 1, creds: { clientId: "meterfleet-agent-bench-a", ...agent } },
      {
        name: "device",
        idx: 2,
        creds: { clientId: "obkAAAA0001", username: withGroup.username, password: withGroup.password },
      },
    ] as const;
    for (const k of kinds) {
      for (const row of PUBLISH) {
        const [topic] = row;
        const allowed = row[k.idx];
        const c = await connect(url, k.creds);
        if (c instanceof Error) throw c;
        clients.push(c);
        const closed = new Promise<void>((r) => c.once("close", () => r()));
        // a discovery config must describe the publishing unit itself ("~"): see the discovery trust test
        const payload = topic.startsWith("homeassistant/")
          ? JSON.stringify({ "~": "obkAAAA0001", probe: ++n })
          : `probe-${++n}`;
        c.publish(topic, payload, { qos: 1 });
        if (allowed) await s.saw(`${topic} ${payload}`);
        else {
          await within(closed, `${k.name} dropped after publishing to ${topic}`); // the broker drops a client that publishes outside its tree
          // the spy is QoS 1 in order: a later probe from the spy itself arriving proves the refused one never will
          await s.client.publishAsync("meterfleet/v1/spy", `after-${n}`, { qos: 1 });
          await s.saw(`meterfleet/v1/spy after-${n}`);
          assertEquals(s.seen.includes(`${topic} ${payload}`), false, `${k.name} published to ${topic}`);
        }
        c.end(true);
      }
      const c = await connect(url, k.creds);
      if (c instanceof Error) throw c;
      clients.push(c);
      for (const row of SUBSCRIBE) {
        // mqtt.js rejects a SUBACK of 0x80 (refused)
        const ok = await c.subscribeAsync(row[0], { qos: 1 }).then((g) => g[0].qos !== 128, () => false);
        assertEquals(ok, row[k.idx], `${k.name} subscribe ${row[0]}`);
      }
      c.end(true);
    }
    // an oversized payload on an allowed topic is refused too (the client is dropped, nothing delivered)
    const big = await connect(url, kinds[1].creds);
    if (big instanceof Error) throw big;
    clients.push(big);
    const bigClosed = new Promise<void>((r) => big.once("close", () => r()));
    big.publish("obkAAAA0001/power/get", "9".repeat(65 * 1024), { qos: 1 });
    await within(bigClosed, "client dropped after an oversized publish");
    console.log(
      `mqtt: ${refused.length} refused connects, ${PUBLISH.length * 2} publishes, ${
        SUBSCRIBE.length * 2
      } subscribes checked on the broker`,
    );
  } finally {
    for (const c of clients) c.end(true);
    await srv.close();
  }
});

Deno.test("a revoked agent token stops working at once: live MQTT connection closed, reconnect and HTTP refused", async () => {
  await withTempDir(async (dir) => {
    const logs: string[] = [];
    const srv = await startTestServer({ env: {} });
    // capture the server's own log lines too (the test server logs at error by default)
    const agentLog = createLogger({ level: "debug", sink: (l) => logs.push(l) });
    const creds = await srv.agentCredentials("bench-rev");
    const agent = await BenchAgent.start({
      agentId: "bench-rev",
      mqttUrl: srv.brokerUrl,
      ...creds,
      spoolDir: `${dir}/spool`,
      pollers: [new SimulatedBench(defaultBench(3), { intervalMs: 100 })],
      batchIntervalMs: 100,
      log: agentLog,
    });
    try {
      await waitFor(async () => ((await (await srv.api("/api/meters")).json()).meters.length === 3), {
        what: "meters",
      });
      const bearer = await fetch(`${srv.url}/api/health`, { headers: { authorization: `Bearer ${creds.token}` } });
      assertEquals(bearer.status, 200);
      await bearer.body?.cancel();
      const guard = guardOf(srv.server.ctx.broker!.aedes)!;
      assertEquals(guard.connected().filter((c) => c.principal.kind === "agent").length, 1);
      const tokens = await (await srv.api("/api/auth/tokens")).json();
      const id = tokens.find((t: { agentId: string }) => t.agentId === "bench-rev").id;

      const res = await srv.api(`/api/auth/tokens/${id}/revoke`, { method: "POST" });
      assertEquals(res.status, 200);
      await res.body?.cancel();
      // at once: by the time the revoke call returned, the broker has closed the agent's connection
      assertEquals(guard.connected().filter((c) => c.principal.kind === "agent").length, 0);
      const live =
        (srv.server.ctx.broker!.aedes as unknown as { clients: Record<string, { closed: boolean }> }).clients;
      const conn = live["meterfleet-agent-bench-rev"];
      assert(!conn || conn.closed, "the revoked agent's connection is still open");
      await waitFor(() => !agent.uplink.client.connected, { what: "agent sees the disconnect" });
      const again = await connect(srv.brokerUrl, { clientId: "meterfleet-agent-bench-rev", ...creds });
      assert(again instanceof Error, "reconnect with a revoked token accepted");
      const http = await fetch(`${srv.url}/api/health`, { headers: { authorization: `Bearer ${creds.token}` } });
      assertEquals(http.status, 401);
      await http.body?.cancel();
      // the admin listing shows it revoked, and never the secret
      const listing = await (await srv.api("/api/auth/tokens")).text();
      assert(listing.includes("revokedAt"));
      assert(!listing.includes(creds.token!), "token listed");
      assert(!listing.includes("mosquittoHash") && !listing.includes('"hash"'), "hashes listed");
    } finally {
      agent.uplink.client.end(true); // its connection may be half-dead on failure: do not wait on it
      await agent.stop().catch(() => {});
      await srv.close();
    }
    assert(!logs.join("\n").includes(creds.token!), "agent logged its token");
  });
});

Deno.test("secrets never reach the log: tokens, passwords, session ids across bootstrap, sign-in, issue, revoke, refused connects", async () => {
  const lines: string[] = [];
  const { startServer } = await import("../../server/app.ts");
  const { configFromEnv } = await import("../../server/config.ts");
  const { ensureInitialAdmin } = await import("../../server/auth/bootstrap.ts");
  const { freePort } = await import("../helpers/net.ts");
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-logs-" });
  const config = {
    ...configFromEnv({ DATA_DIR: dir }),
    port: 0,
    otaHttpPort: 0,
    embeddedMqttPort: freePort(),
    instanceId: "logs",
    logLevel: "debug" as const,
  };
  const server = await startServer(config, { log: createLogger({ level: "debug", sink: (l) => lines.push(l) }) });
  const secrets: string[] = [];
  const clients: MqttClient[] = [];
  try {
    const path = (await ensureInitialAdmin(server.ctx))!;
    const password = /password: (\S+)/.exec(await Deno.readTextFile(path))![1];
    secrets.push(password);
    const internal = await internalCredential(server.ctx.kv);
    secrets.push(internal.password);
    const s = await testSession(server.ctx.kv, "admin");
    secrets.push(s.token, s.csrf);
    const post = (p: string, body: unknown) =>
      fetchAs(server.url, s, p, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const tok = await (await post("/api/auth/tokens", { agentId: "bench-log" })).json();
    secrets.push(tok.token);
    const dev = await (await post("/api/auth/devices", { topics: ["obkLOG00001"] })).json();
    secrets.push(dev.password);
    await post("/api/auth/users", { username: "lena", role: "operator", password: "a password nobody logs" });
    secrets.push("a password nobody logs");
    // sign-in, failed and good (a password typed into the user name field too)
    const form = await fetch(`${server.url}/login`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
    const cookie = form.headers.getSetCookie()[0].split(";")[0];
    for (const [u, p] of [[password, password], ["admin", "wrong wrong wrong"], ["admin", password]]) {
      const r = await fetch(`${server.url}/login`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: u, password: p, _csrf: csrf }),
      });
      await r.body?.cancel();
    }
    // MQTT: good connect, a token used as user name, a revoked one
    const url = server.ctx.broker!.url;
    const good = await connect(url, {
      clientId: "meterfleet-agent-bench-log",
      username: "bench-log",
      password: tok.token,
    });
    if (!(good instanceof Error)) clients.push(good);
    const swapped = await connect(url, {
      clientId: "meterfleet-agent-bench-log",
      username: tok.token,
      password: "bench-log",
    });
    if (!(swapped instanceof Error)) clients.push(swapped);
    await post(`/api/auth/tokens/${tok.id}/revoke`, {});
    const dead = await connect(url, {
      clientId: "meterfleet-agent-bench-log",
      username: "bench-log",
      password: tok.token,
    });
    if (!(dead instanceof Error)) clients.push(dead);
  } finally {
    for (const c of clients) c.end(true);
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const text = lines.join("\n");
  assert(lines.length > 5, "captured no log");
  assert(
    text.includes("agent token revoked") && text.includes("MQTT connection refused"),
    "expected events not logged",
  );
  for (const sec of secrets) assert(!text.includes(sec), `a secret reached the log (${sec.slice(0, 4)}…)`);
  console.log(`log capture: ${lines.length} lines, ${secrets.length} secrets, none present`);
});

Deno.test("flash-time unit credentials derived from the fleet secret: accepted for that topic only, revocable", async () => {
  const { unitSecret } = await import("../../server/auth/tokens.ts");
  const { unitMqttCredentials } = await import("../../shared/obk-config.ts");
  const srv = await startTestServer();
  const clients: MqttClient[] = [];
  try {
    const secret = (await unitSecret(srv.kv, true))!;
    const creds = await unitMqttCredentials(secret, "obkDDDD0004");
    const wrongSecret = await unitMqttCredentials("not-the-fleet-secret", "obkDDDD0004");
    const c = await connect(srv.brokerUrl, { clientId: "obkDDDD0004", username: creds.user, password: creds.password });
    if (c instanceof Error) throw c;
    clients.push(c);
    for (
      const [o, what] of [
        [{ clientId: "obkDDDD0004", username: "obkDDDD0004", password: wrongSecret.password }, "other secret"],
        [{ clientId: "obkEEEE0005", username: "obkEEEE0005", password: creds.password }, "another unit's password"],
        [{
          clientId: "meterfleet",
          username: "meterfleet",
          password: (await unitMqttCredentials(secret, "meterfleet")).password,
        }, "reserved topic"],
      ] as const
    ) {
      const x = await connect(srv.brokerUrl, o);
      if (!(x instanceof Error)) clients.push(x);
      assert(x instanceof Error, `connected with ${what}`);
    }
    const granted = (f: string) => c.subscribeAsync(f, { qos: 1 }).then((g) => g[0].qos !== 128, () => false);
    assertEquals(await granted("cmnd/obkDDDD0004/+"), true);
    // what every OpenBeken build subscribes at connect: its platform's default group (read only, one level)
    assertEquals([
      await granted("cmnd/bekens_n/+"),
      await granted("cmnd/bekens_t/+"),
      await granted("cmnd/bekens_n/#"),
      await granted("cmnd/obkEEEE0005/+"),
    ], [true, true, false, false]);
    assertEquals(
      mayPublish(
        { kind: "device", username: "obkDDDD0004", topics: ["obkDDDD0004"], group: null },
        "cmnd/bekens_n/POWER",
      ),
      false,
    );
    const closed = new Promise<void>((r) => c.once("close", () => r()));
    const res = await srv.api("/api/auth/devices/obkDDDD0004/revoke", { method: "POST" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    await within(closed, "revoked unit disconnected");
    const again = await connect(srv.brokerUrl, {
      clientId: "obkDDDD0004",
      username: creds.user,
      password: creds.password,
    });
    if (!(again instanceof Error)) clients.push(again);
    assert(again instanceof Error, "revoked derived credential reconnected");
  } finally {
    for (const c of clients) c.end(true);
    await srv.close();
  }
});

Deno.test("revoking on one server instance closes the agent's connection on another (they share KV)", async () => {
  const a = await startTestServer();
  const b = await startTestServer({ env: { KV_PATH: a.config.kvPath } });
  const clients: MqttClient[] = [];
  try {
    const creds = await a.agentCredentials("bench-two");
    const c = await connect(b.brokerUrl, { clientId: "meterfleet-agent-bench-two", ...creds });
    if (c instanceof Error) throw c;
    clients.push(c);
    const closed = new Promise<void>((r) => c.once("close", () => r()));
    const id = (await (await a.api("/api/auth/tokens")).json()).find((t: { agentId: string }) =>
      t.agentId === "bench-two"
    ).id;
    const res = await a.api(`/api/auth/tokens/${id}/revoke`, { method: "POST" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    await within(closed, "instance b closed the revoked agent"); // instance b learned it through KV (auth_revocations watch)
    const again = await connect(b.brokerUrl, { clientId: "meterfleet-agent-bench-two", ...creds });
    if (!(again instanceof Error)) clients.push(again);
    assert(again instanceof Error, "reconnected to instance b with a revoked token");
  } finally {
    for (const c of clients) c.end(true);
    await b.close();
    await a.close();
  }
});

Deno.test("several quick revocations on one instance all reach the other instance's connections", async () => {
  const a = await startTestServer();
  const b = await startTestServer({ env: { KV_PATH: a.config.kvPath } });
  const clients: MqttClient[] = [];
  try {
    const ids = ["bench-q1", "bench-q2", "bench-q3", "bench-q4"];
    const closed: Promise<void>[] = [];
    for (const id of ids) {
      const c = await connect(b.brokerUrl, { clientId: `meterfleet-agent-${id}`, ...(await a.agentCredentials(id)) });
      if (c instanceof Error) throw c;
      clients.push(c);
      closed.push(new Promise<void>((r) => c.once("close", () => r())));
    }
    const tokens = await (await a.api("/api/auth/tokens")).json() as { id: string; agentId: string }[];
    // back to back, without waiting: the KV watch on b may see only the last
    await Promise.all(
      tokens.filter((t) => ids.includes(t.agentId)).map((t) =>
        a.api(`/api/auth/tokens/${t.id}/revoke`, { method: "POST" }).then((r) => r.body?.cancel())
      ),
    );
    await within(Promise.all(closed), "every revoked agent closed on instance b");
  } finally {
    for (const c of clients) c.end(true);
    await b.close();
    await a.close();
  }
});
