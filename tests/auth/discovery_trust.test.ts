/**
 * A unit speaks only for itself: Home Assistant discovery names the unit it
 * describes in its payload ("~"), so the broker binds that to the publishing
 * credential. One unit trying to switch another's energy unit to kWh through
 * a retained discovery config is refused and counted; the victim's own config
 * still works.
 */
import { assert, assertEquals } from "@std/assert";
import mqtt, { type MqttClient } from "mqtt";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";

const VICTIM = "obkAAAA0001";
const ATTACKER = "obkBBBB0002";

async function unit(url: string, topic: string, creds: { username?: string; password?: string; clientId?: string }) {
  const c = mqtt.connect(url, {
    clientId: creds.clientId ?? topic,
    username: creds.username,
    password: creds.password,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  await new Promise<void>((res, rej) => {
    c.once("connect", () => res());
    c.once("error", rej);
  });
  return c;
}

const energyDiscovery = (tilde: string, unitOfMeasure: string) =>
  JSON.stringify({
    "~": tilde,
    name: "Energy",
    stat_t: "~/energycounter/get",
    dev_cla: "energy",
    unit_of_meas: unitOfMeasure,
    uniq_id: `OpenBK7231N_AAAA0001_sensor_3`,
    dev: { ids: ["OpenBK7231N_AAAA0001"], name: VICTIM, sw: "1.18.299", mdl: "BK7231N" },
  });

async function within(p: Promise<void>, what: string) {
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((_, rej) => t = setTimeout(() => rej(new Error(`timed out: ${what}`)), 5000))]);
  clearTimeout(t);
}

async function health(srv: { url: string }) {
  const h = await (await fetch(`${srv.url}/api/health`)).json();
  return (h.ingest?.rejected_by_code ?? {}) as Record<string, number>;
}

Deno.test("retained discovery from one unit naming another is refused and counted; a unit's own discovery is applied", async () => {
  const srv = await startTestServer();
  const clients: MqttClient[] = [];
  try {
    const victim = await unit(srv.brokerUrl, VICTIM, await srv.deviceCredentials(VICTIM));
    clients.push(victim);
    await victim.publishAsync(`${VICTIM}/connected`, "online", { qos: 1, retain: true });
    await victim.publishAsync(`${VICTIM}/build`, "OpenBK7231N 1.18.299 Jul 24 2026 10:41:55", { qos: 1 });
    await victim.publishAsync(`${VICTIM}/energycounter/get`, "1234.500", { qos: 1 });
    await waitFor(async () => (await getUnitPresence(srv.kv, VICTIM))?.live.energyWh === 1234.5, {
      what: "the victim's counter",
    });

    const attacker = await unit(srv.brokerUrl, ATTACKER, await srv.deviceCredentials(ATTACKER));
    clients.push(attacker);
    const dropped = new Promise<void>((r) => attacker.once("close", () => r()));
    attacker.publish(
      `homeassistant/sensor/OpenBK7231N_AAAA0001_sensor_3/config`,
      energyDiscovery(VICTIM, "kWh"),
      { qos: 1, retain: true },
    );
    await within(dropped, "the broker to drop a unit publishing another unit's discovery");
    await waitFor(async () => (await health(srv)).mqtt_discovery_other_unit === 1, {
      what: "the refusal counted in /api/health",
    });

    // the victim's record is untouched: its counter still reads in Wh
    await victim.publishAsync(`${VICTIM}/energycounter/get`, "1235.000", { qos: 1 });
    await waitFor(async () => (await getUnitPresence(srv.kv, VICTIM))?.live.energyWh === 1235, {
      what: "the victim's next counter value",
    });
    assertEquals((await getUnitPresence(srv.kv, VICTIM))?.energyUnit ?? "Wh", "Wh");

    // nothing was retained: a unit reconnecting (and the server, after a restart) gets no forged config
    const seen: string[] = [];
    const sub = srv.server.ctx.mqtt;
    await sub.subscribe("homeassistant/+/+/config", (t) => {
      seen.push(t);
    });
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(seen, []);

    // an empty payload would clear another unit's retained config: refused as well
    const attacker2 = await unit(srv.brokerUrl, ATTACKER, await srv.deviceCredentials(ATTACKER));
    clients.push(attacker2);
    const dropped2 = new Promise<void>((r) => attacker2.once("close", () => r()));
    attacker2.publish(`homeassistant/sensor/OpenBK7231N_AAAA0001_sensor_3/config`, "", { qos: 1, retain: true });
    await within(dropped2, "the broker to drop a unit clearing another unit's discovery");
    await waitFor(async () => (await health(srv)).mqtt_discovery_empty === 1, { what: "the empty config counted" });

    // a unit's own discovery goes through and is applied to it
    await victim.publishAsync(
      `homeassistant/sensor/OpenBK7231N_AAAA0001_sensor_3/config`,
      energyDiscovery(VICTIM, "kWh"),
      { qos: 1, retain: true },
    );
    await waitFor(async () => (await getUnitPresence(srv.kv, VICTIM))?.energyUnit === "kWh", {
      what: "the victim's own discovery applied",
    });
    assert(seen.length >= 1);
  } finally {
    for (const c of clients) c.end(true);
    await srv.close();
  }
});
