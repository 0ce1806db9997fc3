import { assertEquals, assertThrows } from "@std/assert";
import { encode } from "../../shared/cbor.ts";
import {
  decodeTelemetryBatch,
  encodeTelemetryBatch,
  TELEMETRY_LIMITS,
  type TelemetryBatch,
} from "../../shared/telemetry.ts";
import { CodecError } from "../../shared/errors.ts";
import { agentIdFromTopic, topics } from "../../shared/topics.ts";

const ts = Date.UTC(2026, 10, 21, 12, 0, 0);
const batch: TelemetryBatch = {
  v: 1,
  agentId: "bench-1",
  seq: 42,
  readings: [
    {
      deviceId: "zmai-01",
      ts,
      voltage: 231.4,
      current: 0.412,
      power: 88.1,
      energyWh: 1523.25,
      frequency: 50.01,
      powerFactor: 0.93,
    },
    {
      deviceId: "spm02-a",
      ts,
      voltage: 230,
      current: 3.3,
      power: 2100.5,
      energyWh: 99,
      phases: [
        { voltage: 230.1, current: 1.1, power: 700.1 },
        { voltage: 229.8, current: 1.1, power: 700.2 },
        { voltage: 230.4, current: 1.1, power: 700.2, powerFactor: 0.99 },
      ],
    },
  ],
};

function rejects(bytes: Uint8Array, code: string) {
  const e = assertThrows(() => decodeTelemetryBatch(bytes), CodecError);
  assertEquals(e.code, code, e.message);
  return e;
}

Deno.test("telemetry batch round-trips through CBOR unchanged", () => {
  assertEquals(decodeTelemetryBatch(encodeTelemetryBatch(batch)), batch);
});

Deno.test("the wire format is plain CBOR any decoder reads (no cbor-x records)", () => {
  const bytes = encodeTelemetryBatch(batch);
  // first byte: a CBOR map (major type 5) with 4 entries
  assertEquals(bytes[0], 0xa4);
  assertEquals(decodeTelemetryBatch(encode(batch)), batch);
});

Deno.test("every truncation of a valid batch is rejected, never partially decoded", () => {
  const bytes = encodeTelemetryBatch(batch);
  for (let n = 1; n < bytes.length; n++) {
    assertThrows(() => decodeTelemetryBatch(bytes.subarray(0, n)), CodecError);
  }
});

Deno.test("trailing bytes after a valid batch are rejected", () => {
  rejects(new Uint8Array([...encodeTelemetryBatch(batch), 0x00]), "bad_cbor");
});

Deno.test("malformed batches are rejected with the field named", () => {
  rejects(new Uint8Array(), "empty");
  rejects(new Uint8Array([0xff, 0x00]), "bad_cbor");
  const cases: [unknown, string][] = [
    [{ ...batch, v: 2 }, "v"],
    [{ ...batch, seq: -1 }, "seq"],
    [{ ...batch, seq: "42" }, "seq"],
    [{ ...batch, agentId: "bench/1" }, "agentId"],
    [{ ...batch, agentId: undefined }, "agentId"],
    [{ ...batch, extra: 1 }, "(root)"],
    [{ ...batch, readings: [{ ...batch.readings[0], voltage: "230" }] }, "readings.0.voltage"],
    [{ ...batch, readings: [{ ...batch.readings[0], power: undefined }] }, "readings.0.power"],
    [{ ...batch, readings: [{ ...batch.readings[0], deviceId: "a+b" }] }, "readings.0.deviceId"],
    [{ ...batch, readings: [{ ...batch.readings[0], ts: 12 }] }, "readings.0.ts"],
    [{ ...batch, readings: [{ ...batch.readings[0], energyWh: -5 }] }, "readings.0.energyWh"],
    [{ ...batch, readings: [{ ...batch.readings[1], phases: [] }] }, "readings.0.phases"],
    [{ ...batch, readings: "none" }, "readings"],
    [[1, 2, 3], "(root)"],
  ];
  for (const [value, field] of cases) {
    const e = rejects(encode(value), "schema");
    assertEquals(e.message.includes(field), true, `${e.message} should name ${field}`);
  }
});

Deno.test("huge arrays and payloads are rejected by limit", () => {
  const many = Array.from({ length: TELEMETRY_LIMITS.maxReadingsPerBatch + 1 }, () => batch.readings[0]);
  rejects(encode({ ...batch, readings: many }), "schema");
  rejects(new Uint8Array(TELEMETRY_LIMITS.maxPayloadBytes + 1), "too_large");
});

Deno.test("topic scheme is versioned and round-trips agent ids", () => {
  assertEquals(topics.telemetry("bench-1"), "meterfleet/v1/agents/bench-1/telemetry");
  assertEquals(agentIdFromTopic(topics.telemetry("bench-1")), "bench-1");
  assertEquals(agentIdFromTopic("meterfleet/v2/agents/bench-1/telemetry"), null);
  assertEquals(agentIdFromTopic("meterfleet/v1/agents/+/telemetry"), null);
  assertThrows(() => topics.telemetry("a/b"));
});
