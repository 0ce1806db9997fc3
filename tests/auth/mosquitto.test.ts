/**
 * External broker: the password and ACL files the server generates
 * (`deno task admin mosquitto-files --out <dir>`) loaded into a real Mosquitto
 * on a free loopback port, then the same checks as on the embedded broker.
 */
import { assert, assertEquals } from "@std/assert";
import mqtt, { type MqttClient } from "mqtt";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { issueAgentToken, issueDeviceCredential, revokeAgentToken } from "../../server/auth/tokens.ts";
import { createLogger } from "../../shared/log.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";
import { withTempDir } from "../helpers/tmp.ts";

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

Deno.test("generated Mosquitto passwd/acl: server, agents and OpenBeken units get exactly their topics on a real mosquitto", async () => {
  await withTempDir(async (dir) => {
    // credentials first (in the KV the server will use), then the files, then the broker with them
    const kvPath = `${dir}/srv/meterfleet.kv`;
    await Deno.mkdir(`${dir}/srv`, { recursive: true });
    const kv = await Deno.openKv(kvPath);
    const agentA = await issueAgentToken(kv, { agentId: "bench-a", createdBy: "test" });
    const revoked = await issueAgentToken(kv, { agentId: "bench-gone", createdBy: "test" });
    await revokeAgentToken(kv, revoked.record.id);
    const dev = (await issueDeviceCredential(kv, { topics: ["obkAAAA0001"], group: "bekens_n", createdBy: "test" }))!;
    kv.close();
    const cli = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../server/auth/cli.ts", import.meta.url).pathname,
        "mosquitto-files",
        "--out",
        `${dir}/mosq`,
      ],
      env: { KV_PATH: kvPath },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(cli.code, 0, new TextDecoder().decode(cli.stderr));
    assertEquals((await Deno.stat(`${dir}/mosq/passwd`)).mode! & 0o777, 0o600);
    const passwd = await Deno.readTextFile(`${dir}/mosq/passwd`);
    assert(!passwd.includes(agentA.token) && !passwd.includes(dev.password), "plaintext in the password file");
    assert(!passwd.includes("bench-gone:"), "revoked token in the password file");
    const acl = await Deno.readTextFile(`${dir}/mosq/acl`);
    assert(!/^topic .*cmnd/m.test(acl.split("user bench-a")[1].split("\n\n")[0]), "agent may touch cmnd/");

    const broker = await startMosquitto({
      // as root, mosquitto drops to user "mosquitto", which cannot read a 0600 file in our temp dir;
      // in production: chown mosquitto the two files (see README)
      extraConfig: `user root\nallow_anonymous false\npassword_file ${dir}/mosq/passwd\nacl_file ${dir}/mosq/acl`,
    });
    const srv = await startTestServer({
      mqttUrl: broker.url,
      env: { KV_PATH: kvPath, DATA_DIR: `${dir}/srv` },
      mqttShareGroup: "meterfleet",
    });
    const clients: MqttClient[] = [];
    let agent: BenchAgent | null = null;
    try {
      // refused: anonymous, wrong password, revoked token, a token under another name
      for (
        const o of [
          { clientId: "a1" },
          { clientId: "a2", username: "bench-a", password: "mfa_" + "C".repeat(43) },
          { clientId: "a3", username: "bench-gone", password: revoked.token },
          { clientId: "a4", username: "obkAAAA0001", password: agentA.token },
        ]
      ) {
        const c = await connect(broker.url, o);
        if (!(c instanceof Error)) clients.push(c);
        assert(c instanceof Error, `connected: ${o.clientId}`);
      }
      // the server (internal credential, $share subscription) ingests an agent's telemetry end to end
      agent = await BenchAgent.start({
        agentId: "bench-a",
        mqttUrl: broker.url,
        username: "bench-a",
        password: agentA.token,
        spoolDir: `${dir}/spool`,
        pollers: [new SimulatedBench(defaultBench(2), { intervalMs: 100 })],
        batchIntervalMs: 100,
        log: createLogger({ level: "error" }),
      });
      await waitFor(async () => (await (await srv.api("/api/meters")).json()).meters.length === 2, {
        what: "telemetry via mosquitto",
      });

      // what the agent and the unit receive. Mosquitto may grant a wildcard filter and then filter
      // delivery by the read ACL, so the check is on what arrives: the server publishes allowed and
      // forbidden topics, then a sentinel each client may read; once the sentinel is in, nothing else may be
      const a = await connect(broker.url, {
        clientId: "meterfleet-agent-bench-a-probe",
        username: "bench-a",
        password: agentA.token,
      });
      const d = await connect(broker.url, { clientId: "obkAAAA0001", username: dev.username, password: dev.password });
      if (a instanceof Error) throw a;
      if (d instanceof Error) throw d;
      clients.push(a, d);
      const got = new Map<MqttClient, string[]>([[a, []], [d, []]]);
      for (const c of [a, d]) c.on("message", (t) => got.get(c)!.push(t));
      for (const f of ["#", "+/#", "meterfleet/v1/agents/+/telemetry", "cmnd/#", "meterfleet/v1/agents/bench-a/#"]) {
        await a.subscribeAsync(f, { qos: 1 }).catch(() => {});
      }
      for (const f of ["#", "cmnd/#", "+/+/set", "obkAAAA0001/#", "cmnd/obkAAAA0001/+", "cmnd/bekens_n/+"]) {
        await d.subscribeAsync(f, { qos: 1 }).catch(() => {});
      }
      const forbiddenForAgent = [
        "meterfleet/v1/agents/bench-b/telemetry",
        "cmnd/obkAAAA0001/POWER",
        "obkAAAA0001/1/set",
      ];
      const forbiddenForUnit = ["meterfleet/v1/agents/bench-a/ack", "cmnd/obkBBBB0002/POWER", "obkBBBB0002/1/set"];
      for (const t of [...forbiddenForAgent, ...forbiddenForUnit]) await srv.server.ctx.mqtt.publish(t, "x");
      await srv.server.ctx.mqtt.publish("meterfleet/v1/agents/bench-a/ack", "sentinel");
      await srv.server.ctx.mqtt.publish("cmnd/bekens_n/STATUS", "sentinel");
      await waitFor(() => got.get(a)!.includes("meterfleet/v1/agents/bench-a/ack"), { what: "agent sentinel" });
      await waitFor(() => got.get(d)!.includes("cmnd/bekens_n/STATUS"), { what: "unit sentinel" });
      for (const t of forbiddenForAgent) assertEquals(got.get(a)!.includes(t), false, `agent received ${t}`);
      for (const t of forbiddenForUnit) assertEquals(got.get(d)!.includes(t), false, `unit received ${t}`);
      assert(got.get(d)!.includes("cmnd/obkAAAA0001/POWER"), "unit did not get its own command");

      // publishes outside the tree are dropped by Mosquitto (3.1.1 cannot refuse a PUBLISH): the server's
      // subscription to cmnd/# sees the unit's allowed topic but never the agent's command
      const seen: string[] = [];
      srv.server.ctx.mqtt.client.on("message", (t, p) => seen.push(`${t} ${p}`));
      await srv.server.ctx.mqtt.subscribe("cmnd/#", () => {});
      await srv.server.ctx.mqtt.subscribe("obkAAAA0001/#", () => {});
      await a.publishAsync("cmnd/obkAAAA0001/POWER", "OFF", { qos: 1 });
      await d.publishAsync("cmnd/obkAAAA0001/POWER", "OFF", { qos: 1 });
      await d.publishAsync("obkAAAA0001/power/get", "60.00", { qos: 1 });
      await waitFor(() => seen.includes("obkAAAA0001/power/get 60.00"), { what: "unit's own publish" });
      // the server itself may command units
      await srv.server.ctx.mqtt.publish("cmnd/obkAAAA0001/POWER", "ON");
      await waitFor(() => seen.includes("cmnd/obkAAAA0001/POWER ON"), { what: "server command" });
      assertEquals(
        seen.filter((s) => s.startsWith("cmnd/obkAAAA0001/POWER OFF")),
        [],
        "agent/unit command got through",
      );
    } finally {
      for (const c of clients) c.end(true);
      await agent?.stop().catch(() => {});
      await srv.close();
      await broker.stop();
    }
  });
});

Deno.test("mosquitto-files --watch: a token issued can connect, a token revoked is disconnected at once, without touching Mosquitto by hand", async () => {
  await withTempDir(async (dir) => {
    const kvPath = `${dir}/meterfleet.kv`;
    const kv = await Deno.openKv(kvPath);
    const clients: MqttClient[] = [];
    let broker: Awaited<ReturnType<typeof startMosquitto>> | null = null;
    // the watcher as an operator runs it beside Mosquitto, in its own process
    const watcher = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../server/auth/cli.ts", import.meta.url).pathname,
        "mosquitto-files",
        "--out",
        `${dir}/mosq`,
        "--watch",
        "--pid-file",
        `${dir}/mosquitto.pid`,
        "--every",
        "0.2",
      ],
      env: { KV_PATH: kvPath },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = Promise.all([new Response(watcher.stdout).text(), new Response(watcher.stderr).text()]);
    const a = await issueAgentToken(kv, { agentId: "bench-a", createdBy: "test" });
    try {
      await waitFor(async () => (await Deno.readTextFile(`${dir}/mosq/passwd`).catch(() => "")).includes("bench-a:"), {
        what: "the watcher writing bench-a into the password file",
      });
      broker = await startMosquitto({
        extraConfig:
          `user root\nallow_anonymous false\npid_file ${dir}/mosquitto.pid\npassword_file ${dir}/mosq/passwd\nacl_file ${dir}/mosq/acl`,
      });
      const live = await connect(broker.url, {
        clientId: "meterfleet-agent-bench-a",
        username: "bench-a",
        password: a.token,
      });
      if (live instanceof Error) throw live;
      clients.push(live);
      let closedAt = 0;
      live.on("close", () => closedAt ||= Date.now());

      // issued after Mosquitto started: the watcher rewrites the files and reloads it
      const b = await issueAgentToken(kv, { agentId: "bench-b", createdBy: "test" });
      const bClient = await waitFor(async () => {
        const c = await connect(broker!.url, {
          clientId: "meterfleet-agent-bench-b",
          username: "bench-b",
          password: b.token,
        });
        if (c instanceof Error) throw c;
        return c;
      }, { what: "bench-b accepted after the reload", timeoutMs: 20_000 });
      clients.push(bClient);
      assertEquals(closedAt, 0, "a reload must not drop clients whose credentials still hold");

      // revoked in KV (as the admin page or CLI does): the live connection goes, and stays gone
      await revokeAgentToken(kv, a.record.id);
      await waitFor(() => closedAt > 0, { what: "bench-a's live connection closed by Mosquitto", timeoutMs: 20_000 });
      const again = await connect(broker.url, {
        clientId: "meterfleet-agent-bench-a",
        username: "bench-a",
        password: a.token,
      });
      if (!(again instanceof Error)) clients.push(again);
      assert(again instanceof Error, "a revoked token reconnected");
      assert(bClient.connected, "bench-b was dropped with bench-a");
    } finally {
      for (const c of clients) c.end(true);
      await broker?.stop();
      try {
        watcher.kill("SIGTERM");
      } catch { /* already gone */ }
      kv.close();
    }
    const status = await watcher.status;
    const [out, err] = await output;
    assertEquals(status.code, 0, err);
    assert(!/mfa_[A-Za-z0-9_-]{20,}/.test(out + err), "a token in the watcher's output");
    assert((out + err).includes('"reloaded":true'), out + err);
    // started before Mosquitto: the first files were written with no pid to signal, and the watcher said so and went on
    assert((out + err).includes("no Mosquitto pid to reload"), out + err);
  });
});
