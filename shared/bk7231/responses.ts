/**
 * Chip → host response frames and a resynchronising scanner.
 * Reference: ../shared/reference/bk7231-bootloader.md §2.2, §2.4, §7.
 *
 *   short: 04 0E | LEN=4+n | 01 E0 FC | code | payload(n)
 *   long:  04 0E | FF | 01 E0 FC | F4 | LEN u16 LE = 2+n | code | status | payload(n)
 *
 * The scanner finds `04 0E`, validates the header, and skips anything that is
 * not the frame asked for (line noise, a stray link-check reply around a baud
 * switch, a late reply to an earlier request).
 */
import { CodecError } from "../errors.ts";
import { LONG, SHORT } from "./requests.ts";

export interface ResponseFrame {
  long: boolean;
  code: number;
  /** Long frames only; 0 = OK. */
  status: number;
  payload: Uint8Array;
  /** Wire length of the whole frame. */
  size: number;
}

export interface Expect {
  code: number;
  long: boolean;
  /** Accepted payload lengths (short frames: after the code; long: after the status). */
  lengths?: number[];
}

export type ScanResult =
  | { found: true; frame: ResponseFrame; rest: Uint8Array; skipped: number }
  | { found: false; keep: Uint8Array; skipped: number };

/** Upper bound for a sane long-response LEN: Read4K is 2 + 4 + 4096. */
const MAX_LONG_LEN = 2 + 4 + 0x10000;

/**
 * Look for the expected frame in `buf`. Returns it with the bytes after it,
 * or the tail that may still start one (`keep`) when more input is needed.
 * `skipped` counts discarded bytes (noise and stray frames) for diagnostics.
 */
export function scanResponse(buf: Uint8Array, expect: Expect): ScanResult {
  let i = 0;
  let skipped = 0;
  while (i < buf.length) {
    if (buf[i] !== 0x04) {
      i++;
      skipped++;
      continue;
    }
    if (i + 1 >= buf.length) break;
    if (buf[i + 1] !== 0x0e) {
      i++;
      skipped++;
      continue;
    }
    if (i + 2 >= buf.length) break;
    const lenByte = buf[i + 2];
    let frame: ResponseFrame | null = null;
    let bad = false;
    if (lenByte === 0xff) {
      if (i + 9 > buf.length) {
        if (!prefixOk(buf, i + 3, [0x01, 0xe0, 0xfc, 0xf4])) bad = true;
        else break;
      } else if (!prefixOk(buf, i + 3, [0x01, 0xe0, 0xfc, 0xf4])) bad = true;
      else {
        const len = buf[i + 7] | (buf[i + 8] << 8);
        if (len < 2 || len > MAX_LONG_LEN) bad = true;
        else if (i + 9 + len > buf.length) break;
        else {
          frame = {
            long: true,
            code: buf[i + 9],
            status: buf[i + 10],
            payload: buf.slice(i + 11, i + 9 + len),
            size: 9 + len,
          };
        }
      }
    } else {
      if (lenByte < 4) bad = true;
      else if (!prefixOk(buf, i + 3, [0x01, 0xe0, 0xfc])) bad = true;
      else if (i + 3 + lenByte > buf.length) break;
      else {
        frame = {
          long: false,
          code: buf[i + 6],
          status: 0,
          payload: buf.slice(i + 7, i + 3 + lenByte),
          size: 3 + lenByte,
        };
      }
    }
    if (bad) {
      i++;
      skipped++;
      continue;
    }
    if (!frame) break;
    if (
      frame.long === expect.long && frame.code === expect.code &&
      (!expect.lengths || frame.status !== 0 || expect.lengths.includes(frame.payload.length))
    ) {
      return { found: true, frame, rest: buf.slice(i + frame.size), skipped };
    }
    // a well-formed frame we did not ask for: drop it whole
    i += frame.size;
    skipped += frame.size;
  }
  return { found: false, keep: buf.slice(i), skipped };
}

/** True if the bytes present from `at` match `want` (missing bytes count as a match). */
function prefixOk(buf: Uint8Array, at: number, want: number[]) {
  for (let k = 0; k < want.length && at + k < buf.length; k++) if (buf[at + k] !== want[k]) return false;
  return true;
}

const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);

function needOk(f: ResponseFrame, what: string) {
  if (f.status !== 0) {
    throw new CodecError("BK_STATUS", `${what}: chip returned status ${f.status}`, { status: f.status });
  }
}
function needLen(f: ResponseFrame, what: string, ...lens: number[]) {
  if (!lens.includes(f.payload.length)) {
    throw new CodecError("BK_LENGTH", `${what}: payload ${f.payload.length} bytes, expected ${lens.join("/")}`);
  }
}
function needAddr(f: ResponseFrame, what: string, addr: number, at = 0) {
  const got = u32(f.payload, at);
  if (got !== addr >>> 0) {
    throw new CodecError("BK_ECHO", `${what}: chip echoed 0x${got.toString(16)}, sent 0x${addr.toString(16)}`);
  }
}

/** What to wait for after each request, and how to read its payload. */
export const expect = {
  linkCheck: { code: 0x01, long: false, lengths: [1] } as Expect,
  writeReg: { code: SHORT.WriteReg, long: false, lengths: [8] } as Expect,
  readReg: { code: SHORT.ReadReg, long: false, lengths: [8] } as Expect,
  setBaudRate: { code: SHORT.SetBaudRate, long: false, lengths: [5] } as Expect,
  checkCrc: { code: SHORT.CheckCRC, long: false, lengths: [4] } as Expect,
  readBootVersion: { code: SHORT.ReadBootVersion, long: false } as Expect,
  stayRom: { code: SHORT.StayRom, long: false, lengths: [1] } as Expect,
  flashWrite: { code: LONG.FlashWrite, long: true, lengths: [5] } as Expect,
  flashWrite4K: { code: LONG.FlashWrite4K, long: true, lengths: [4] } as Expect,
  flashRead: { code: LONG.FlashRead, long: true } as Expect,
  flashRead4K: { code: LONG.FlashRead4K, long: true, lengths: [4 + 4096] } as Expect,
  flashEraseAll: { code: LONG.FlashEraseAll, long: true, lengths: [1] } as Expect,
  flashErase4K: { code: LONG.FlashErase4K, long: true, lengths: [4] } as Expect,
  flashReadSR: { code: LONG.FlashReadSR, long: true, lengths: [2] } as Expect,
  flashWriteSR: { code: LONG.FlashWriteSR, long: true, lengths: [2, 3] } as Expect,
  /** BootROM quirk: LEN 0x0005 or 0x0006 (one ignored byte before the ID), §2.4. */
  flashGetMID: { code: LONG.FlashGetMID, long: true, lengths: [3, 4] } as Expect,
  flashErase: { code: LONG.FlashErase, long: true, lengths: [5] } as Expect,
};

export const parse = {
  linkCheck(f: ResponseFrame) {
    needLen(f, "LinkCheck", 1);
    if (f.payload[0] !== 0) throw new CodecError("BK_LINK", `LinkCheck answered 0x${f.payload[0].toString(16)}`);
  },
  writeReg(f: ResponseFrame, addr: number, value: number) {
    needLen(f, "WriteReg", 8);
    needAddr(f, "WriteReg", addr);
    needAddr(f, "WriteReg value", value, 4);
  },
  readReg(f: ResponseFrame, addr: number): number {
    needLen(f, "ReadReg", 8);
    needAddr(f, "ReadReg", addr);
    return u32(f.payload, 4);
  },
  setBaudRate(f: ResponseFrame, baud: number, delayMs: number) {
    needLen(f, "SetBaudRate", 5);
    needAddr(f, "SetBaudRate", baud);
    if (f.payload[4] !== delayMs) {
      throw new CodecError("BK_ECHO", `SetBaudRate: delay echo ${f.payload[4]} ≠ ${delayMs}`);
    }
  },
  checkCrc(f: ResponseFrame): number {
    needLen(f, "CheckCRC", 4);
    return u32(f.payload, 0);
  },
  /** ASCII boot version; a single 0x07 byte means "no version" (§3.5). */
  readBootVersion(f: ResponseFrame): string | null {
    if (f.payload.length === 1 && f.payload[0] === 0x07) return null;
    return new TextDecoder().decode(f.payload).replace(/\0+$/, "");
  },
  flashWrite(f: ResponseFrame, addr: number, count: number) {
    needOk(f, "FlashWrite");
    needLen(f, "FlashWrite", 5);
    needAddr(f, "FlashWrite", addr);
    if (f.payload[4] !== (count & 0xff)) throw new CodecError("BK_ECHO", `FlashWrite count ${f.payload[4]} ≠ ${count}`);
  },
  flashWrite4K(f: ResponseFrame, addr: number) {
    needOk(f, "FlashWrite4K");
    needLen(f, "FlashWrite4K", 4);
    needAddr(f, "FlashWrite4K", addr);
  },
  flashRead(f: ResponseFrame, addr: number, len: number): Uint8Array {
    needOk(f, "FlashRead");
    needLen(f, "FlashRead", 4 + len);
    needAddr(f, "FlashRead", addr);
    return f.payload.slice(4);
  },
  flashRead4K(f: ResponseFrame, addr: number): Uint8Array {
    needOk(f, "FlashRead4K");
    needLen(f, "FlashRead4K", 4 + 4096);
    needAddr(f, "FlashRead4K", addr);
    return f.payload.slice(4);
  },
  flashEraseAll(f: ResponseFrame) {
    needOk(f, "FlashEraseAll");
  },
  flashErase4K(f: ResponseFrame, addr: number) {
    needOk(f, "FlashErase4K");
    needLen(f, "FlashErase4K", 4);
    needAddr(f, "FlashErase4K", addr);
  },
  flashReadSR(f: ResponseFrame, opcode: number): number {
    needOk(f, "FlashReadSR");
    needLen(f, "FlashReadSR", 2);
    if (f.payload[0] !== opcode) throw new CodecError("BK_ECHO", `FlashReadSR opcode echo ${f.payload[0]}`);
    return f.payload[1];
  },
  flashWriteSR(f: ResponseFrame, value: number, size: 1 | 2): number {
    needOk(f, "FlashWriteSR");
    needLen(f, "FlashWriteSR", 1 + size);
    const got = size === 1 ? f.payload[1] : f.payload[1] | (f.payload[2] << 8);
    if (got !== value) throw new CodecError("BK_ECHO", `FlashWriteSR echoed 0x${got.toString(16)}`);
    return got;
  },
  /** 24-bit JEDEC id as M | T<<8 | C<<16 (e.g. 0x1560EB). */
  flashGetMID(f: ResponseFrame): number {
    needOk(f, "FlashGetMID");
    needLen(f, "FlashGetMID", 3, 4);
    const p = f.payload.length === 4 ? f.payload.subarray(1) : f.payload;
    return p[0] | (p[1] << 8) | (p[2] << 16);
  },
  flashErase(f: ResponseFrame, sizeCmd: number, addr: number) {
    needOk(f, "FlashErase");
    needLen(f, "FlashErase", 5);
    if (f.payload[0] !== sizeCmd) {
      throw new CodecError("BK_ECHO", `FlashErase size echo 0x${f.payload[0].toString(16)}`);
    }
    needAddr(f, "FlashErase", addr, 1);
  },
};
