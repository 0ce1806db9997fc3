/**
 * The telemetry contract between bench agents and the server: a zod schema for
 * a batch and its CBOR codec. Decoding is all-or-nothing: a truncated or
 * schema-invalid payload throws a CodecError and yields no readings at all.
 */
import { z } from "zod";
import { Decoder, Encoder } from "./cbor.ts";
import { CodecError } from "./errors.ts";
import { AGENT_ID } from "./topics.ts";

/** Hard limits, so one bad agent cannot make the server allocate without bound. */
export const TELEMETRY_LIMITS = {
  maxPayloadBytes: 256 * 1024,
  maxReadingsPerBatch: 1000,
  maxPhases: 3,
};

/**
 * What an agent puts in one batch at most. Keeps every MQTT payload well under
 * 100 KB: aedes on Deno stalls a connection that publishes more than ~150 KB
 * in one packet (measured here), and small packets keep broker memory flat.
 */
export const READINGS_PER_AGENT_BATCH = 400;

const finite = z.number().finite();
export const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A spool's epoch: 16 random hex digits made with the spool (edge-agent/uplink/spool.ts). */
export const SPOOL_EPOCH = /^[0-9a-f]{16}$/;

export const phaseReadingSchema = z.object({
  voltage: finite.min(0).max(1000),
  current: finite.min(0).max(1000),
  power: finite.min(-1e6).max(1e6),
  powerFactor: finite.min(-1).max(1).optional(),
}).strict();

export const readingSchema = z.object({
  deviceId: z.string().regex(DEVICE_ID, "device id: 1-64 of A-Z a-z 0-9 _ . : -"),
  /** milliseconds since the Unix epoch, taken by the agent when the value was read */
  ts: z.number().int().min(946684800000).max(4102444800000),
  voltage: finite.min(0).max(1000),
  current: finite.min(0).max(1000),
  /** active power in W; negative when exporting (solar) */
  power: finite.min(-1e6).max(1e6),
  /** the meter's cumulative import energy counter in Wh */
  energyWh: finite.min(0),
  frequency: finite.min(0).max(100).optional(),
  powerFactor: finite.min(-1).max(1).optional(),
  phases: z.array(phaseReadingSchema).min(1).max(TELEMETRY_LIMITS.maxPhases).optional(),
}).strict();

export const telemetryBatchSchema = z.object({
  v: z.literal(1),
  agentId: z.string().regex(AGENT_ID, "agent id: 1-64 of A-Z a-z 0-9 _ . -"),
  /** the agent's spool: (epoch, seq) is the server's dedupe key; absent in batches from before epochs */
  epoch: z.string().regex(SPOOL_EPOCH, "epoch: 16 hex digits").optional(),
  /** strictly increasing per spool, survives agent restarts */
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  readings: z.array(readingSchema).max(TELEMETRY_LIMITS.maxReadingsPerBatch),
}).strict();

export const telemetryAckSchema = z.object({
  v: z.literal(1),
  /** the acked batch's epoch (an ack for another spool's batch is not this spool's) */
  epoch: z.string().regex(SPOOL_EPOCH).optional(),
  seq: z.number().int().min(0),
  /** "duplicate" when the batch had already been committed before */
  status: z.enum(["committed", "duplicate", "rejected"]),
}).strict();

export type PhaseReading = z.infer<typeof phaseReadingSchema>;
export type Reading = z.infer<typeof readingSchema>;
export type TelemetryBatch = z.infer<typeof telemetryBatchSchema>;
export type TelemetryAck = z.infer<typeof telemetryAckSchema>;

// Plain maps/arrays only: no cbor-x record extensions, so any CBOR decoder can read the wire format.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

function encodeChecked<T>(schema: z.ZodType<T>, value: T): Uint8Array {
  return encoder.encode(schema.parse(value));
}

function decodeChecked<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  if (bytes.byteLength === 0) throw new CodecError("empty", `${what}: empty payload`);
  if (bytes.byteLength > TELEMETRY_LIMITS.maxPayloadBytes) {
    throw new CodecError("too_large", `${what}: ${bytes.byteLength} bytes exceeds ${TELEMETRY_LIMITS.maxPayloadBytes}`);
  }
  let raw: unknown;
  try {
    // decodeMultiple would accept trailing garbage silently; decode + length check does not.
    raw = decoder.decode(bytes);
  } catch (e) {
    throw new CodecError("bad_cbor", `${what}: not valid CBOR (${(e as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CodecError(
      "schema",
      `${what}: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
      parsed.error.issues.slice(0, 5),
    );
  }
  return parsed.data;
}

export const encodeTelemetryBatch = (b: TelemetryBatch) => encodeChecked(telemetryBatchSchema, b);
export const decodeTelemetryBatch = (bytes: Uint8Array) =>
  decodeChecked(telemetryBatchSchema, bytes, "telemetry batch");
export const encodeTelemetryAck = (a: TelemetryAck) => encodeChecked(telemetryAckSchema, a);
export const decodeTelemetryAck = (bytes: Uint8Array) => decodeChecked(telemetryAckSchema, bytes, "telemetry ack");
