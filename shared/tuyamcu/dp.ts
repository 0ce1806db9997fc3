/**
 * TuyaMCU datapoints, the payload of 0x06 (set), 0x07 (report) and 0x22 (sync report):
 * `dpId(1) type(1) len(2, BE) value(len)`, repeated (reference/openbeken.md §4.3).
 */
import { CodecError } from "../errors.ts";
import { concatBytes } from "../bytes.ts";

export const DpType = { raw: 0, bool: 1, value: 2, string: 3, enum: 4, bitmap: 5 } as const;
export type DpTypeName = keyof typeof DpType;
export const DP_TYPE_NAMES: DpTypeName[] = ["raw", "bool", "value", "string", "enum", "bitmap"];

/** A decoded datapoint. `value` follows the decode CLI's contract: hex for raw/bitmap. */
export type Datapoint =
  | { id: number; type: "raw"; value: string; bytes: Uint8Array }
  | { id: number; type: "bool"; value: boolean; bytes: Uint8Array }
  | { id: number; type: "value"; value: number; bytes: Uint8Array }
  | { id: number; type: "string"; value: string; bytes: Uint8Array }
  | { id: number; type: "enum"; value: number; bytes: Uint8Array }
  | { id: number; type: "bitmap"; value: string; bytes: Uint8Array };

export const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("").toUpperCase();

export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/0x/gi, "").replace(/[^0-9a-fA-F]/g, "");
  if (clean.length % 2) throw new CodecError("bad_hex", `odd number of hex digits (${clean.length})`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Decodes every DP in a payload; a DP whose length runs past the end throws (OBK stops there too). */
export function decodeDatapoints(data: Uint8Array): Datapoint[] {
  const out: Datapoint[] = [];
  let i = 0;
  while (i < data.length) {
    if (data.length - i < 4) {
      throw new CodecError("truncated_dp", `datapoint header at offset ${i} needs 4 bytes, ${data.length - i} left`);
    }
    const id = data[i], type = data[i + 1], len = (data[i + 2] << 8) | data[i + 3];
    if (i + 4 + len > data.length) {
      throw new CodecError(
        "truncated_dp",
        `datapoint ${id} declares ${len} bytes, only ${data.length - i - 4} left in the frame`,
        { id, type, len },
      );
    }
    out.push(decodeDpValue(id, type, data.slice(i + 4, i + 4 + len)));
    i += 4 + len;
  }
  return out;
}

export interface RecordReport {
  /** the MCU's own clock when it stored the record; absent when it says the date is not valid */
  recordDate: { valid: false } | { valid: true; local: string };
  datapoints: Datapoint[];
}

/**
 * A v0 (battery-powered MCU) 0x08 record report: 7 date bytes (valid flag, YY MM DD hh mm ss),
 * then datapoints (OpenBeken src/driver/drv_tuyaMCU.c, TuyaMCU_V0_ParseRealTimeWithRecordStorage
 * with bIncludesDate). Shorter than the date, or a datapoint running past the end, is refused.
 */
export function decodeRecordReport(data: Uint8Array): RecordReport {
  if (data.length < 7) {
    throw new CodecError("truncated_record", `v0 record report needs 7 date bytes first, got ${data.length}`);
  }
  const [valid, yy, mo, dd, hh, mi, ss] = data;
  const p2 = (n: number) => String(n).padStart(2, "0");
  return {
    recordDate: valid
      ? { valid: true, local: `20${p2(yy)}-${p2(mo)}-${p2(dd)}T${p2(hh)}:${p2(mi)}:${p2(ss)}` }
      : { valid: false },
    datapoints: decodeDatapoints(data.subarray(7)),
  };
}

export function decodeDpValue(id: number, type: number, bytes: Uint8Array): Datapoint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case DpType.raw:
      return { id, type: "raw", value: toHex(bytes), bytes };
    case DpType.bool:
      if (bytes.length !== 1) {
        throw new CodecError("bad_dp", `bool datapoint ${id} has ${bytes.length} bytes, expected 1`);
      }
      return { id, type: "bool", value: bytes[0] !== 0, bytes };
    case DpType.value:
      if (bytes.length !== 4) {
        throw new CodecError("bad_dp", `value datapoint ${id} has ${bytes.length} bytes, expected 4`);
      }
      return { id, type: "value", value: view.getInt32(0, false), bytes };
    case DpType.string:
      return { id, type: "string", value: new TextDecoder().decode(bytes), bytes };
    case DpType.enum:
      if (bytes.length !== 1) {
        throw new CodecError("bad_dp", `enum datapoint ${id} has ${bytes.length} bytes, expected 1`);
      }
      return { id, type: "enum", value: bytes[0], bytes };
    case DpType.bitmap:
      if (![1, 2, 4].includes(bytes.length)) {
        throw new CodecError("bad_dp", `bitmap datapoint ${id} has ${bytes.length} bytes, expected 1, 2 or 4`);
      }
      return { id, type: "bitmap", value: toHex(bytes), bytes };
    default:
      throw new CodecError("bad_dp_type", `datapoint ${id} has unknown type ${type}`);
  }
}

/** Integer value of a bitmap DP (big-endian). */
export function bitmapValue(dp: Datapoint): number {
  let v = 0;
  for (const b of dp.bytes) v = v * 256 + b;
  return v;
}

export type DpInput =
  | { id: number; type: "raw" | "bitmap"; value: Uint8Array }
  | { id: number; type: "bool"; value: boolean }
  | { id: number; type: "value" | "enum"; value: number }
  | { id: number; type: "string"; value: string };

export function encodeDatapoint(dp: DpInput): Uint8Array {
  let v: Uint8Array;
  switch (dp.type) {
    case "raw":
    case "bitmap":
      v = dp.value;
      break;
    case "bool":
      v = Uint8Array.of(dp.value ? 1 : 0);
      break;
    case "enum":
      v = Uint8Array.of(dp.value & 0xff);
      break;
    case "value": {
      v = new Uint8Array(4);
      new DataView(v.buffer).setInt32(0, dp.value | 0, false);
      break;
    }
    case "string":
      v = new TextEncoder().encode(dp.value);
      break;
  }
  const out = new Uint8Array(4 + v.length);
  out.set([dp.id, DpType[dp.type], v.length >> 8, v.length & 0xff]);
  out.set(v, 4);
  return out;
}

export function encodeDatapoints(dps: DpInput[]): Uint8Array {
  return concatBytes(...dps.map(encodeDatapoint));
}
