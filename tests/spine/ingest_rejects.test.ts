/** Malformed telemetry on the real broker is refused, counted by cause in /api/health, and writes nothing. */
import { assertEquals } from "@std/assert";
import mqtt from "mqtt";
import { encode } from "../../shared/cbor.ts";
import { encodeTelemetryBatch, TELEMETRY_LIMITS } from "../../shared/telemetry.ts";
import { topics } from "../../shared/topics.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";

Deno.test("bad CBOR, schema errors, topic/agent mismatch and truncation are rejected and counted; nothing is written", async () => {
  const srv = await startTestServer();
  const client = await mqtt.connectAsync(srv.brokerUrl, {
    ...(await srv.agentCredentials("bench-bad")),
    protocolVersion: 4,
  });
  try {
    const ts = Date.now();
    const good = {
      v: 1 as const,
      agentId: "bench-bad",
      seq: 1,
      readings: [{ deviceId: "m-1", ts, voltage: 230, current: 1, power: 230, energyWh: 5 }],
    };
    const valid = encodeTelemetryBatch(good);
    const t = topics.telemetry("bench-bad");
    await client.publishAsync(t, Buffer.from([0xff, 0xfe, 0x00]), { qos: 1 }); // bad_cbor
    await client.publishAsync(t, Buffer.from(valid.subarray(0, valid.length - 4)), { qos: 1 }); // truncated → bad_cbor
    await client.publishAsync(
      t,
      Buffer.from(encode({ ...good, readings: [{ ...good.readings[0], voltage: "230" }] })),
      { qos: 1 },
    ); // schema
    await client.publishAsync(
      t,
      Buffer.from(
        encode({ ...good, readings: Array(TELEMETRY_LIMITS.maxReadingsPerBatch + 1).fill(good.readings[0]) }),
      ),
      { qos: 1 },
    ); // schema (too many)
    // topic_mismatch: another agent's batch on this agent's topic (publishing on another agent's topic is refused by the broker)
    await client.publishAsync(t, Buffer.from(encodeTelemetryBatch({ ...good, agentId: "someone-else" })), { qos: 1 });
    await client.publishAsync(t, Buffer.alloc(0), { qos: 1 }); // empty

    const health = await waitFor(async () => {
      const h = await (await srv.api("/api/health")).json();
      return h.ingest.batches_rejected >= 6 ? h : null;
    }, { what: "6 rejections counted" });
    assertEquals(health.ingest.rejected_by_code, { bad_cbor: 2, schema: 2, topic_mismatch: 1, empty: 1 });
    assertEquals(health.ingest.batches_committed, 0);
    assertEquals((await (await srv.api("/api/meters")).json()).meters, []);

    // the same valid batch on its own topic is accepted afterwards: rejects did not poison ingest
    await client.publishAsync(t, Buffer.from(valid), { qos: 1 });
    await waitFor(async () => (await (await srv.api("/api/meters")).json()).meters.length === 1, {
      what: "valid batch committed",
    });
  } finally {
    await client.endAsync();
    await srv.close();
  }
});
