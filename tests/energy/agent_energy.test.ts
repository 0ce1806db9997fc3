/**
 * Agent batches (CBOR on the agents' telemetry topic) feed the same energy
 * rollups: a replayed batch and batches arriving out of order never count a
 * watt-hour twice; two server instances on one KV and one broker that both
 * receive the same OpenBeken traffic count it once.
 */
import { assertEquals } from "@std/assert";
import mqtt from "mqtt";
import { decodeTelemetryAck, encodeTelemetryBatch, type Reading } from "../../shared/telemetry.ts";
import { topics } from "../../shared/topics.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";
import { dailyWh } from "./replay.ts";

const D = Date.UTC(2026, 5, 1);
const MIN = 60_000;

/** 10 one-minute readings from minute `from`, 240 W, counter from 1000 Wh (4 Wh a minute). */
function readings(deviceId: string, from: number): Reading[] {
  return Array.from({ length: 10 }, (_, i) => {
    const m = from + i;
    return { deviceId, ts: D + m * MIN, voltage: 230, current: 1.04, power: 240, energyWh: 1000 + 4 * m };
  });
}

Deno.test("agent batches: replays and out-of-order batches never double the energy", async () => {
  const srv = await startTestServer();
  let accounted = 0;
  const off = srv.server.ctx.bus.on("energy.accounted", (e) => void (accounted += e.samples));
  const client = await mqtt.connectAsync(srv.brokerUrl, {
    ...(await srv.agentCredentials("bench-e1")),
    protocolVersion: 4,
  });
  const acks: string[] = [];
  client.on("message", (_t, p) => {
    const a = decodeTelemetryAck(new Uint8Array(p));
    acks.push(`${a.seq}:${a.status}`);
  });
  await client.subscribeAsync(topics.telemetryAck("bench-e1"), { qos: 1 });
  const send = (seq: number, rs: Reading[]) =>
    client.publishAsync(
      topics.telemetry("bench-e1"),
      Buffer.from(encodeTelemetryBatch({ v: 1, agentId: "bench-e1", seq, readings: rs })),
      { qos: 1 },
    );
  try {
    await send(1, readings("din-01", 0)); // minutes 0..9
    await waitFor(() => accounted >= 10);
    await send(3, readings("din-01", 20)); // minutes 20..29 (batch 2 is late)
    await waitFor(() => accounted >= 20);
    await send(2, readings("din-01", 10)); // minutes 10..19, after the newer batch
    await send(1, readings("din-01", 0)); // a replay from the agent's spool
    await waitFor(() => acks.length === 4, { what: "4 acks" });
    assertEquals(acks, ["1:committed", "3:committed", "2:committed", "1:duplicate"]);
    await waitFor(() => accounted >= 30);
    // counter 1000 → 1116 Wh: 116 Wh, once; batch 2's minutes were covered by the counter growth to batch 3
    assertEquals(await dailyWh(srv, "unit", "din-01", D, D + 86_400_000), { "2026-06-01": 116 });
    const hourly =
      await (await srv.api(`/api/energy/series?scope=unit&id=din-01&level=minute&from=${D}&to=${D + 3600_000}`)).json();
    assertEquals(hourly.totalWh, 116);
    // 4 Wh in each of minutes 0..8, and the 11-minute step 9→20 spread at 4 Wh a minute
    assertEquals(hourly.points.slice(0, 3).map((p: { wh: number }) => p.wh), [4, 4, 4]);
    assertEquals(hourly.points.every((p: { wh: number }) => p.wh === 4), true);
  } finally {
    off();
    await client.endAsync();
    await srv.close();
  }
});

Deno.test("two server instances on one KV and one broker, both receiving the same OpenBeken messages, count energy once", async () => {
  const a = await startTestServer();
  const b = await startTestServer({ dir: a.dir, mqttUrl: a.brokerUrl });
  let accounted = 0;
  const offs = [a, b].map((s) => s.server.ctx.bus.on("energy.accounted", (e) => void (accounted += e.samples)));
  const unit = await ObkUnit.connect(a, "obkTWIN01");
  try {
    for (let i = 0; i <= 20; i++) {
      // small steps: these arrive milliseconds apart, and growth faster than 60 kW would be a glitch
      await unit.value("energycounter", (5000 + 0.5 * i).toFixed(3));
      await waitFor(() => accounted >= 2 * (i + 1), { intervalMs: 2, what: `sample ${i} on both instances` });
    }
    const today = new Date().toISOString().slice(0, 10);
    const days = await dailyWh(a, "unit", "obkTWIN01", Date.now() - 2 * 86_400_000, Date.now() + 86_400_000);
    assertEquals(Object.values(days).reduce((s, x) => s + x, 0), 10);
    assertEquals(days[today] !== undefined, true);
  } finally {
    offs.forEach((off) => off());
    await unit.close();
    await b.close();
    await a.close();
  }
});
