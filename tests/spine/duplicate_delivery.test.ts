/**
 * The same batch delivered twice while the server is still committing an earlier one: after a server restart the
 * agent's MQTT client re-sends its unacknowledged publishes and the agent re-publishes every spooled batch, so copies
 * of one batch can wait in the same ingest round. They must be committed once: one ledger entry, one count, one
 * `telemetry.committed` event (energy accounting listens to it), and every copy acknowledged.
 */
import { assertEquals } from "@std/assert";
import mqtt from "mqtt";
import { decodeTelemetryAck, encodeTelemetryBatch, type Reading } from "../../shared/telemetry.ts";
import { topics } from "../../shared/topics.ts";
import { commitParts, readIngestCounters, splitBatch } from "../../server/meters/store.ts";
import { listHistory } from "../../server/history/store.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";

Deno.test("copies of one batch in the same ingest round are committed once, counted once, and each acknowledged", async () => {
  const srv = await startTestServer();
  const client = await mqtt.connectAsync(srv.brokerUrl, {
    ...(await srv.agentCredentials("bench-dup")),
    protocolVersion: 4,
  });
  const committedEvents: number[] = [];
  const off = srv.server.ctx.bus.on("telemetry.committed", (e) => {
    if (e.agentId === "bench-dup") committedEvents.push(e.seq);
  });
  const acks: string[] = [];
  try {
    await client.subscribeAsync(topics.telemetryAck("bench-dup"), { qos: 1 });
    client.on("message", (_t, payload) => {
      const a = decodeTelemetryAck(new Uint8Array(payload));
      acks.push(`${a.seq}:${a.status}`);
    });
    const t0 = Date.now() - 10_000;
    const batch = (seq: number, meter: string): Uint8Array => {
      const readings: Reading[] = Array.from({ length: 20 }, (_, i) => ({
        deviceId: meter,
        ts: t0 + seq * 1000 + i * 10,
        voltage: 230,
        current: 1,
        power: 230,
        energyWh: 100 + seq + i / 100,
      }));
      return encodeTelemetryBatch({ v: 1, agentId: "bench-dup", epoch: "00112233aabbccdd", seq, readings });
    };
    const topic = topics.telemetry("bench-dup");
    // the first batch starts a round on its own; the three copies of the second arrive while it commits
    const a = batch(1, "dup-a"), b = batch(2, "dup-b");
    await Promise.all([
      client.publishAsync(topic, Buffer.from(a), { qos: 1 }),
      client.publishAsync(topic, Buffer.from(b), { qos: 1 }),
      client.publishAsync(topic, Buffer.from(b), { qos: 1 }),
      client.publishAsync(topic, Buffer.from(b), { qos: 1 }),
    ]);
    await waitFor(() => acks.length >= 4, { what: "every copy acknowledged" });

    const counters = await readIngestCounters(srv.kv);
    assertEquals(counters.readings_committed, 40, "readings counted once");
    assertEquals(counters.batches_committed, 2);
    assertEquals(counters.batches_duplicate, 2);
    assertEquals(committedEvents.sort(), [1, 2], "one committed event per batch");
    assertEquals(acks.filter((x) => x.startsWith("2:")).length, 3);
    assertEquals(acks.filter((x) => x === "2:committed").length, 1);
    const hist = await listHistory(srv.kv, "dup-b", 0, Number.MAX_SAFE_INTEGER, 1_000_000);
    assertEquals(hist.length, 20, "each reading stored once");
  } finally {
    off();
    await client.endAsync();
    await srv.close();
  }
});

Deno.test("commitParts: a part given twice in one call is committed once, its copy reported as duplicate", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const readings: Reading[] = [1, 2, 3].map((i) => ({
      deviceId: "m-1",
      ts: 1_800_000_000_000 + i,
      voltage: 230,
      current: 1,
      power: 230,
      energyWh: i,
    }));
    const [part] = splitBatch({ v: 1, agentId: "bench-x", epoch: "0011223344556677", seq: 5, readings });
    const out = await commitParts(kv, [part, { ...part }]);
    assertEquals([out.committed.length, out.duplicate.length], [1, 1]);
    assertEquals((await readIngestCounters(kv)).readings_committed, 3);
    // and given again later, the ledger knows it
    const again = await commitParts(kv, [part]);
    assertEquals([again.committed.length, again.duplicate.length], [0, 1]);
    assertEquals((await readIngestCounters(kv)).readings_committed, 3);
  } finally {
    kv.close();
  }
});
