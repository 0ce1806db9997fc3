/**
 * No unit is commanded for an image it may not take. OpenBeken publishes `<topic>/build` ("Open<chip> <version>
 * <date>") a second or more after `connected` = online; until it has, the unit's chip is unknown and nothing is
 * sent. A unit whose build reports another chip than the image's, or that never reports one, is never sent
 * `ota_http`: the first ends failed, the second `skipped` (chip unknown) after the rollout's chip timeout.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import mqtt from "mqtt";
import { waitFor } from "../helpers/net.ts";
import type { TestServer } from "../helpers/server.ts";
import {
  countBy,
  createRollout,
  json,
  NEW,
  OLD,
  registerFleet,
  rolloutState,
  startFleet,
  startOtaServer,
  uploadFirmware,
} from "./fleet.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";

/**
 * A unit driven by hand over MQTT: it announces itself like OpenBeken (will, `connected` online, uptime, ip) but
 * publishes its build only when told, and records every command it receives.
 */
async function handUnit(srv: TestServer, n: number) {
  const hex = n.toString(16).padStart(6, "0").toUpperCase();
  const topic = `obk8C${hex}`;
  const mac = `c8:47:8c:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`.toLowerCase();
  const cred = await srv.deviceCredentials(topic);
  const client = await mqtt.connectAsync(srv.brokerUrl, {
    clientId: topic,
    username: cred.username,
    password: cred.password,
    will: { topic: `${topic}/connected`, payload: Buffer.from("offline"), retain: true, qos: 1 },
    reconnectPeriod: 0,
  });
  const commands: string[] = [];
  client.on("message", (t, p) => commands.push(`${t} ${p}`));
  await client.subscribeAsync(`cmnd/${topic}/+`, { qos: 1 });
  await client.publishAsync(`${topic}/connected`, "online", { qos: 1, retain: true });
  await client.publishAsync(`${topic}/ip`, "127.0.0.1", { qos: 1 });
  await client.publishAsync(`${topic}/uptime`, "4000", { qos: 1 });
  await json(srv.api("/api/units", {
    method: "POST",
    headers: { "content-type": "application/json" },
    // inventory believes it is a BK7231N
    body: JSON.stringify({ mac, chip: "BK7231N", topic, model: "zmai-90", site: "plant-1" }),
  }));
  return {
    topic,
    commands,
    build: (chip: string) =>
      client.publishAsync(`${topic}/build`, `Open${chip} ${OLD} Jul 24 2026 10:41:55`, { qos: 1 }),
    close: () => client.endAsync(true),
  };
}
import { Buffer } from "node:buffer";

Deno.test("chip guard: a unit whose build comes late is not commanded before it; one reporting another chip never is", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 2, { firstIndex: 700 });
  const late = await handUnit(srv, 0x700100);
  const wrong = await handUnit(srv, 0x700101);
  try {
    await registerFleet(srv, fleet);
    await waitFor(async () => (await getUnitPresence(srv.kv, late.topic))?.online === true, {
      what: "hand units online",
    });
    const fw = await uploadFirmware(srv);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      pacingPerMin: 3000,
      chipTimeoutMs: 20_000,
      groups: [{ name: "all", percent: 100, successThreshold: 50, errorThreshold: 100 }],
    });
    assertEquals(r.total, 4);
    // the simulated units (build known) go; the two without a build wait
    await waitFor(async () => countBy((await rolloutState(srv, r.id)).devices, (d) => d.state === "verified") === 2, {
      what: "the units with a known chip verified",
      timeoutMs: 20_000,
    });
    const waiting = (await rolloutState(srv, r.id)).devices.filter((d) =>
      d.topic === late.topic || d.topic === wrong.topic
    );
    assertEquals(waiting.map((d) => [d.state, d.attempts]), [["scheduled", 0], ["scheduled", 0]]);
    assertEquals([late.commands, wrong.commands], [[], []]);

    // the builds arrive: one is the image's chip, the other is not
    await late.build("BK7231N");
    await wrong.build("BK7231T");
    const done = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      const byTopic = new Map(s.devices.map((d) => [d.topic, d]));
      return byTopic.get(late.topic)!.state !== "scheduled" && byTopic.get(wrong.topic)!.state === "failed"
        ? byTopic
        : null;
    }, { what: "the late unit commanded and the wrong-chip unit failed", timeoutMs: 20_000 });
    const w = done.get(wrong.topic)!;
    assertEquals(w.attempts, 0);
    assertMatch(w.error ?? "", /reports chip BK7231T, the image is for BK7231N: not sent/);
    assertEquals(wrong.commands, []);
    assertEquals(done.get(late.topic)!.attempts, 1);
    assertEquals(late.commands.length, 1);
    assert(late.commands[0].startsWith(`cmnd/${late.topic}/ota_http http://`), late.commands[0]);
  } finally {
    await late.close();
    await wrong.close();
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("chip guard: a unit that never reports its build ends skipped (chip unknown) after the timeout, never commanded", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 1, { firstIndex: 720 });
  const mute = await handUnit(srv, 0x720100);
  try {
    await registerFleet(srv, fleet);
    await waitFor(async () => (await getUnitPresence(srv.kv, mute.topic))?.online === true, {
      what: "mute unit online",
    });
    const fw = await uploadFirmware(srv);
    const started = Date.now();
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      pacingPerMin: 3000,
      chipTimeoutMs: 1500,
      groups: [{ name: "all", percent: 100, successThreshold: 50, errorThreshold: 100 }],
    });
    const s = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.devices.find((d) => d.topic === mute.topic)!.state === "skipped" ? s : null;
    }, { what: "the mute unit skipped", timeoutMs: 20_000 });
    const d = s.devices.find((d) => d.topic === mute.topic)!;
    assert(d.stateAt - started >= 1500, `skipped after ${d.stateAt - started} ms`);
    assertEquals(d.attempts, 0);
    assertMatch(d.error ?? "", /^chip unknown: /);
    assertEquals(mute.commands, []);
    const fin = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" ? s : null;
    }, { what: "the rollout finished (50 % success threshold)", timeoutMs: 20_000 });
    assertEquals(fin.rollout.counts.skipped, 1);
    assertEquals(fin.rollout.counts.verified, 1);
    assertEquals(fleet.units[0].version, NEW);
  } finally {
    await mute.close();
    await fleet.stop();
    await srv.close();
  }
});
