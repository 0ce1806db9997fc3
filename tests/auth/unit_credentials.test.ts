/**
 * Unit MQTT credentials are minted only for units the calling bench really backed up: the
 * server checks the backup it holds (a full 2 MiB image whose TLV sector carries the MAC, on
 * the chip the record names), that this agent sent it, and that the unit is not deployed under
 * another bench. Each attack as reproduced, then the safe outcome.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import mqtt from "mqtt";
import { HttpFlashServer } from "../../edge-agent/flash/server-client.ts";
import { sha256Hex } from "../../edge-agent/flash/jobs.ts";
import { generateStockImage } from "../../edge-agent/sim/bk7231.ts";
import { listAudit } from "../../server/kv/audit.ts";
import { findUnitByMac, recordUnitSeen } from "../../server/inventory/units.ts";
import { unitSecret } from "../../server/auth/tokens.ts";
import { unitMqttCredentials } from "../../shared/obk-config.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const VICTIM = "c8:47:8c:11:22:33";
const TOPIC = "obk8C112233";

async function bench(ts: TestServer, agentId: string) {
  const { token } = await ts.agentCredentials(agentId);
  const client = new HttpFlashServer(ts.url, agentId, token);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${client.root}/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      throw new Error(`${path}: HTTP ${res.status} ${text}`);
    }
  };
  const upload = async (image: Uint8Array, mac: string) => {
    const sha = await sha256Hex(image);
    await client.uploadBackup(
      { sha256: sha, size: image.length, chip: "bk7231n", mac, benchHost: agentId, port: "/dev/ttyUSB0" },
      image,
      `t~usb0~${crypto.randomUUID().slice(0, 6)}`,
    );
    return sha;
  };
  return { client, post, upload };
}

Deno.test("unit credentials: the attacks as reproduced are refused; the bench that backed the unit up gets them", async () => {
  const ts = await startTestServer();
  try {
    const a = await bench(ts, "bench-a");
    const b = await bench(ts, "bench-b");
    const creds = (x: typeof a, mac = VICTIM, topic = TOPIC) => x.post("credentials", { topic, mac });

    // nothing backed up yet
    assertEquals((await creds(b)).status, 403);
    // attack 1: a 1-byte "backup" that declares the victim's MAC
    await b.upload(new Uint8Array([0x5a]), VICTIM);
    assertEquals((await creds(b)).status, 403);
    // attack 2: a full-size image whose TLV sector holds another MAC, declared as the victim's
    await b.upload(generateStockImage("bk7231n", "c8:47:8c:99:99:99"), VICTIM);
    assertEquals((await creds(b)).status, 403);
    // attack 3: registering itself on the victim's unit
    const reg = await b.post("units", { kind: "backup", chip: "bk7231n", mac: VICTIM, benchHost: "bench-b" });
    assertEquals(reg.status, 403);
    assertStringIncludes(reg.body.error, "no verified backup");

    // the bench that really backed the unit up
    const stock = generateStockImage("bk7231n", VICTIM);
    const sha = await a.upload(stock, VICTIM);
    const ok = await creds(a);
    assertEquals(ok.status, 200);
    const secret = await unitSecret(ts.kv);
    assertEquals(ok.body.password, (await unitMqttCredentials(secret!, TOPIC)).password);
    // the topic must be this MAC's (OpenBeken names a unit by its last 4 MAC bytes)
    assertEquals((await creds(a, VICTIM, "obk8C999999")).status, 403);
    // issuing is audited (who, which unit), the password is not in it
    const audit = await listAudit(ts.kv, { target: `topic:${TOPIC}` });
    assertEquals(audit.map((e) => [e.actor, e.action]), [["agent:bench-a", "unit.credentials.derive"]]);
    assert(!JSON.stringify(audit).includes(ok.body.password));
    // bench-b still cannot, and cannot read bench-a's backup bytes either
    assertEquals((await creds(b)).status, 403);
    const steal = await fetch(`${b.client.root}/backups/${sha}/bytes`, {
      headers: { authorization: `Bearer ${b.client.token}` },
    });
    assertEquals(steal.status, 404);
    await steal.body?.cancel();

    // bench-a registers the unit; it goes into service and is seen online
    const mine = await a.post("units", { kind: "backup", chip: "bk7231n", mac: VICTIM, benchHost: "bench-a" });
    assertEquals(mine.status, 200, JSON.stringify(mine.body));
    await a.post("units", {
      kind: "batch",
      chip: "bk7231n",
      mac: VICTIM,
      benchHost: "bench-a",
      backupId: sha,
      port: "/dev/ttyUSB0",
    });
    const unit = await findUnitByMac(ts.kv, VICTIM);
    await recordUnitSeen(ts.kv, unit!.id, { at: Date.now() });
    // attack 4: bench-b really holds an image of the unit (it got its hands on the bytes) — the unit is
    // deployed under bench-a, so bench-b may neither mint its password nor register itself on it
    await b.upload(stock, VICTIM);
    const deployed = await creds(b);
    assertEquals(deployed.status, 409, JSON.stringify(deployed.body));
    assertEquals(
      (await b.post("units", { kind: "write", chip: "bk7231n", mac: VICTIM, benchHost: "b" })).status,
      409,
    );
    // bench-a, its own bench, still may
    assertEquals((await creds(a)).status, 200);
  } finally {
    await ts.close();
  }
});

Deno.test("unit credentials: operators never get a unit password; an admin-issued one retires the derived one", async () => {
  const ts = await startTestServer();
  try {
    const a = await bench(ts, "bench-a");
    await a.upload(generateStockImage("bk7231n", VICTIM), VICTIM);
    // an operator calling the bench route gets nothing (the rule names agents only)
    const { testSession, fetchAs } = await import("../helpers/auth.ts");
    const op = await testSession(ts.kv, "operator", "olga");
    const res = await fetchAs(ts.url, op, "/api/agents/bench-a/flash/credentials", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: TOPIC, mac: VICTIM }),
    });
    assertEquals(res.status, 403);
    await res.body?.cancel();

    const derived = (await a.post("credentials", { topic: TOPIC, mac: VICTIM })).body;
    const connect = (username: string, password: string) =>
      mqtt.connectAsync(ts.brokerUrl, { username, password, clientId: TOPIC, protocolVersion: 4, reconnectPeriod: 0 })
        .then(async (c) => (await c.endAsync(), true), () => false);
    assertEquals(await connect(TOPIC, derived.password), true);

    // an admin issues the unit its own credential (audited): from now on only that one works
    const issued = await ts.api("/api/auth/devices", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: `${TOPIC}.own`, topics: [TOPIC] }),
    });
    assertEquals(issued.status, 201);
    const own = await issued.json();
    assertEquals(await connect(TOPIC, derived.password), false);
    assertEquals(await connect(`${TOPIC}.own`, own.password), true);
    const audit = await listAudit(ts.kv, { target: `mqtt-user:${TOPIC}.own` });
    assertEquals(audit.map((e) => e.action), ["device.credential.issue"]);
    assert(!JSON.stringify(audit).includes(own.password));
  } finally {
    await ts.close();
  }
});
