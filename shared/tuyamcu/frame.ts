/**
 * TuyaMCU serial frames: `55 AA | ver | cmd | lenHi lenLo | data | cs`, where cs is
 * the sum of every byte from 0x55 to the last data byte, mod 256
 * (reference/openbeken.md §4.1). Any version byte is accepted; only the
 * checksum decides. Pure code: no I/O.
 */
import { CodecError } from "../errors.ts";
import { concatBytes } from "../bytes.ts";

export const TUYA_HEADER = [0x55, 0xaa] as const;
/** Frames above this are treated as a false header (OBK's receive buffer is 256 bytes). */
export const TUYA_MAX_DATA = 1024;

/** Every command the reference lists, by id. */
export const TuyaCommand = {
  heartbeat: 0x00,
  productInfo: 0x01,
  workingMode: 0x02,
  wifiState: 0x03,
  wifiReset: 0x04,
  /** v3: Wi-Fi select (AP mode); v0: real-time DP report */
  wifiSelect: 0x05,
  setDp: 0x06,
  stateReport: 0x07,
  queryState: 0x08,
  signalStrength: 0x0b,
  dpCache: 0x10,
  timeSync: 0x1c,
  weather: 0x21,
  syncReport: 0x22,
  syncReportAck: 0x23,
  getRssi: 0x24,
  networkStatus: 0x2b,
  recordStatus: 0x34,
} as const;

export const TUYA_COMMAND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(TuyaCommand).map(([name, id]) => [id, name]),
);

export function commandName(cmd: number): string {
  return TUYA_COMMAND_NAMES[cmd] ?? `0x${cmd.toString(16).padStart(2, "0")}`;
}

export interface TuyaFrame {
  version: number;
  command: number;
  data: Uint8Array;
}

export function tuyaChecksum(bytes: Uint8Array, end = bytes.length): number {
  let s = 0;
  for (let i = 0; i < end; i++) s += bytes[i];
  return s & 0xff;
}

export function encodeTuyaFrame(f: TuyaFrame): Uint8Array {
  if (f.data.length > 0xffff) throw new CodecError("too_large", `TuyaMCU data of ${f.data.length} bytes`);
  const out = new Uint8Array(7 + f.data.length);
  out.set([0x55, 0xaa, f.version & 0xff, f.command & 0xff, f.data.length >> 8, f.data.length & 0xff]);
  out.set(f.data, 6);
  out[out.length - 1] = tuyaChecksum(out, out.length - 1);
  return out;
}

/** Decodes exactly one frame; anything else (short, long, bad checksum) throws. */
export function decodeTuyaFrame(bytes: Uint8Array): TuyaFrame {
  if (bytes.length < 7) throw new CodecError("truncated", `TuyaMCU frame: ${bytes.length} bytes, need at least 7`);
  if (bytes[0] !== 0x55 || bytes[1] !== 0xaa) throw new CodecError("bad_header", "TuyaMCU frame must start with 55 AA");
  const len = (bytes[4] << 8) | bytes[5];
  if (bytes.length < 7 + len) {
    throw new CodecError(
      "truncated",
      `TuyaMCU frame: length field says ${len} data bytes, only ${bytes.length - 7} present`,
    );
  }
  if (bytes.length > 7 + len) {
    throw new CodecError("trailing", `TuyaMCU frame: ${bytes.length - 7 - len} bytes after checksum`);
  }
  const want = tuyaChecksum(bytes, 6 + len);
  if (bytes[6 + len] !== want) {
    throw new CodecError(
      "bad_checksum",
      `TuyaMCU frame: checksum 0x${hex2(bytes[6 + len])}, computed 0x${hex2(want)}`,
    );
  }
  return { version: bytes[2], command: bytes[3], data: bytes.slice(6, 6 + len) };
}

const hex2 = (b: number) => b.toString(16).padStart(2, "0").toUpperCase();

export type TuyaStreamEvent =
  | { kind: "frame"; frame: TuyaFrame; raw: Uint8Array }
  /** a `55 AA` candidate that failed; the parser skipped its header and resynchronised */
  | { kind: "error"; error: CodecError; raw: Uint8Array }
  /** bytes before a header that belong to no frame */
  | { kind: "noise"; raw: Uint8Array };

/**
 * Resynchronising stream parser. A candidate that fails its checksum costs only
 * its first byte, so a corrupted length field cannot swallow the good frames after it.
 */
export class TuyaFrameParser {
  #buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): TuyaStreamEvent[] {
    this.#buf = concatBytes(this.#buf, chunk);
    const out: TuyaStreamEvent[] = [];
    let i = 0;
    const b = this.#buf;
    while (i < b.length) {
      const h = findHeader(b, i);
      if (h < 0) {
        // keep a trailing 0x55: it may be the first half of a header
        const keep = b[b.length - 1] === 0x55 ? b.length - 1 : b.length;
        if (keep > i) out.push({ kind: "noise", raw: b.slice(i, keep) });
        i = keep;
        break;
      }
      if (h > i) out.push({ kind: "noise", raw: b.slice(i, h) });
      i = h;
      if (b.length - i < 6) break;
      const len = (b[i + 4] << 8) | b[i + 5];
      if (len > TUYA_MAX_DATA) {
        out.push({
          kind: "error",
          error: new CodecError("bad_length", `TuyaMCU length ${len} exceeds ${TUYA_MAX_DATA}`),
          raw: b.slice(i, i + 6),
        });
        i += 1;
        continue;
      }
      if (b.length - i < 7 + len) {
        // Incomplete. If a complete, valid frame starts later in the buffer, this
        // header's length field is corrupt: drop it instead of waiting for bytes
        // that would swallow good frames.
        if (validFrameAfter(b, i + 2)) {
          out.push({
            kind: "error",
            error: new CodecError("bad_length", `TuyaMCU length ${len} overruns the next valid frame`),
            raw: b.slice(i, i + 6),
          });
          i += 1;
          continue;
        }
        break;
      }
      const end = i + 7 + len;
      const want = tuyaChecksum(b.subarray(i, end - 1));
      if (b[end - 1] !== want) {
        out.push({
          kind: "error",
          error: new CodecError(
            "bad_checksum",
            `TuyaMCU frame: checksum 0x${hex2(b[end - 1])}, computed 0x${hex2(want)}`,
          ),
          raw: b.slice(i, end),
        });
        i += 1;
        continue;
      }
      const raw = b.slice(i, end);
      out.push({ kind: "frame", frame: { version: raw[2], command: raw[3], data: raw.slice(6, 6 + len) }, raw });
      i = end;
    }
    this.#buf = b.slice(i);
    return out;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pending(): number {
    return this.#buf.length;
  }

  /** End of input: whatever is held is a truncated frame. */
  flush(): TuyaStreamEvent[] {
    const rest = this.#buf;
    this.#buf = new Uint8Array(0);
    if (rest.length === 0) return [];
    if (rest[0] === 0x55 && (rest.length === 1 || rest[1] === 0xaa)) {
      const out: TuyaStreamEvent[] = [
        {
          kind: "error",
          error: new CodecError("truncated", `TuyaMCU frame cut off after ${rest.length} bytes`),
          raw: rest.slice(0, Math.min(rest.length, 6)),
        },
      ];
      // whatever followed that header may still hold frames
      if (rest.length > 1) {
        const p = new TuyaFrameParser();
        out.push(...p.push(rest.slice(1)), ...p.flush());
      }
      return out;
    }
    return [{ kind: "noise", raw: rest }];
  }
}

function validFrameAfter(b: Uint8Array, from: number): boolean {
  for (let j = findHeader(b, from); j >= 0; j = findHeader(b, j + 1)) {
    if (b.length - j < 7) return false;
    const len = (b[j + 4] << 8) | b[j + 5];
    if (b.length - j >= 7 + len && tuyaChecksum(b.subarray(j, j + 6 + len)) === b[j + 6 + len]) return true;
  }
  return false;
}

function findHeader(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) if (b[i] === 0x55 && b[i + 1] === 0xaa) return i;
  return -1;
}
