/**
 * Request/response register protocols (RN8209C, HT7017, BL6552). Each chip is
 * described as data: how a read request looks, how many data bytes a register
 * returns, byte order, and the checksum. A response only means something next to
 * the request that asked for it, so decoding takes both.
 */
import { CodecError } from "../errors.ts";

export interface RegisterDef {
  name: string;
  /** data bytes the chip returns */
  size: number;
  signed?: boolean;
}

export interface RegisterChip {
  chip: string;
  /** bytes of a read request for `reg` (the checksum covers these plus the data) */
  readRequest(reg: number): Uint8Array;
  /** a full write frame */
  writeFrame(reg: number, value: number): Uint8Array;
  byteOrder: "msb" | "lsb";
  registers: Record<number, RegisterDef>;
  /** size used for registers missing from the table */
  defaultSize: number;
  /**
   * For captures (TX and RX interleaved): recognise a request starting at `b[i]`.
   * Returns the register, whether it is a write, and the request length; null if
   * `b[i]` cannot start a request.
   */
  captureRequest(b: Uint8Array, i: number): { reg: number; write: boolean; reqLen: number } | null;
}

export interface RegisterValue {
  reg: number;
  name: string;
  /** integer, sign-extended when the register is signed */
  value: number;
  raw: Uint8Array;
}

/** ~(sum of request bytes + data bytes) & 0xFF: the checksum all three chips use. */
export function invertedSum(...parts: ArrayLike<number>[]): number {
  let s = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++) s += p[i];
  return ~s & 0xff;
}

export const registerSize = (c: RegisterChip, reg: number) => c.registers[reg]?.size ?? c.defaultSize;

export function decodeRegisterResponse(c: RegisterChip, reg: number, resp: Uint8Array): RegisterValue {
  const def = c.registers[reg];
  const n = def?.size ?? c.defaultSize;
  if (resp.length < n + 1) {
    throw new CodecError("truncated", `${c.chip} register 0x${hex(reg)}: ${resp.length} of ${n + 1} bytes`);
  }
  if (resp.length > n + 1) {
    throw new CodecError("trailing", `${c.chip} register 0x${hex(reg)}: ${resp.length - n - 1} extra bytes`);
  }
  const data = resp.subarray(0, n);
  const cs = invertedSum(c.readRequest(reg), data);
  if (resp[n] !== cs) {
    throw new CodecError(
      "bad_checksum",
      `${c.chip} register 0x${hex(reg)}: checksum 0x${hex(resp[n])}, computed 0x${hex(cs)}`,
    );
  }
  let v = 0;
  if (c.byteOrder === "msb") { for (let i = 0; i < n; i++) v = v * 256 + data[i]; }
  else for (let i = n - 1; i >= 0; i--) v = v * 256 + data[i];
  if (def?.signed && v >= 2 ** (8 * n - 1)) v -= 2 ** (8 * n);
  return { reg, name: def?.name ?? `0x${hex(reg)}`, value: v, raw: resp.slice() };
}

const hex = (b: number) => b.toString(16).padStart(2, "0").toUpperCase();

export type RegisterCaptureEvent =
  | { kind: "read"; value: RegisterValue; raw: Uint8Array }
  | { kind: "write"; reg: number; name: string; value: number; raw: Uint8Array }
  | { kind: "error"; error: CodecError; raw: Uint8Array }
  | { kind: "noise"; raw: Uint8Array };

/**
 * Walks a capture of request+response transactions. A transaction that fails
 * its checksum costs one byte, then the walk resynchronises on the next request.
 */
export function parseRegisterCapture(c: RegisterChip, b: Uint8Array): RegisterCaptureEvent[] {
  const out: RegisterCaptureEvent[] = [];
  let i = 0;
  let noiseFrom = -1;
  const endNoise = () => {
    if (noiseFrom >= 0) out.push({ kind: "noise", raw: b.slice(noiseFrom, i) });
    noiseFrom = -1;
  };
  while (i < b.length) {
    const req = c.captureRequest(b, i);
    if (!req) {
      if (noiseFrom < 0) noiseFrom = i;
      i++;
      continue;
    }
    const n = registerSize(c, req.reg);
    const total = req.reqLen + (req.write ? c.writeFrame(req.reg, 0).length - req.reqLen : n + 1);
    if (i + total > b.length) {
      endNoise();
      out.push({
        kind: "error",
        error: new CodecError("truncated", `${c.chip} transaction for register 0x${hex(req.reg)} cut off`),
        raw: b.slice(i),
      });
      break;
    }
    const raw = b.slice(i, i + total);
    if (req.write) {
      const body = raw.subarray(0, total - 1);
      if (invertedSum(body) !== raw[total - 1]) {
        if (noiseFrom < 0) noiseFrom = i;
        i++;
        continue;
      }
      endNoise();
      const data = raw.subarray(req.reqLen, total - 1);
      let v = 0;
      if (c.byteOrder === "msb") { for (const x of data) v = v * 256 + x; }
      else for (let k = data.length - 1; k >= 0; k--) v = v * 256 + data[k];
      out.push({ kind: "write", reg: req.reg, name: c.registers[req.reg]?.name ?? `0x${hex(req.reg)}`, value: v, raw });
      i += total;
      continue;
    }
    try {
      const value = decodeRegisterResponse(c, req.reg, raw.subarray(req.reqLen));
      endNoise();
      out.push({ kind: "read", value, raw });
      i += total;
    } catch (e) {
      endNoise();
      out.push({ kind: "error", error: e as CodecError, raw });
      i += 1;
    }
  }
  endNoise();
  return out;
}
