/**
 * Device-side framing for the BK7231 simulator, written independently of the
 * client codec in shared/bk7231 (a shared bug must not pass both sides).
 * Parses host requests, builds chip responses. Reference:
 * ../shared/reference/bk7231-bootloader.md §2.1–§2.2.
 */

export interface Request {
  long: boolean;
  code: number;
  payload: Uint8Array;
}

export type Parsed =
  | { kind: "request"; req: Request; used: number }
  | { kind: "text"; text: "reboot"; used: number }
  | { kind: "need-more"; used: number }; // `used` bytes of garbage may be dropped

const REBOOT = [0x72, 0x65, 0x62, 0x6f, 0x6f, 0x74]; // "reboot"

/** Find the next request (or a `reboot` line) in what the host sent. */
export function parseRequest(buf: Uint8Array, acceptText: boolean): Parsed {
  for (let i = 0; i < buf.length; i++) {
    if (acceptText && buf[i] === 0x72) {
      let k = 0;
      while (k < REBOOT.length && i + k < buf.length && buf[i + k] === REBOOT[k]) k++;
      if (k === REBOOT.length) return { kind: "text", text: "reboot", used: i + k };
      if (i + k === buf.length) return { kind: "need-more", used: i };
    }
    if (buf[i] !== 0x01) continue;
    const avail = buf.length - i;
    if (avail < 2) return { kind: "need-more", used: i };
    if (buf[i + 1] !== 0xe0) continue;
    if (avail < 3) return { kind: "need-more", used: i };
    if (buf[i + 2] !== 0xfc) continue;
    if (avail < 4) return { kind: "need-more", used: i };
    const l = buf[i + 3];
    if (l === 0xff) {
      if (avail < 5) return { kind: "need-more", used: i };
      if (buf[i + 4] !== 0xf4) continue;
      if (avail < 7) return { kind: "need-more", used: i };
      const len = buf[i + 5] + buf[i + 6] * 256;
      if (len < 1) continue;
      if (avail < 7 + len) return { kind: "need-more", used: i };
      return {
        kind: "request",
        req: { long: true, code: buf[i + 7], payload: buf.slice(i + 8, i + 7 + len) },
        used: i + 7 + len,
      };
    }
    if (l < 1) continue;
    if (avail < 4 + l) return { kind: "need-more", used: i };
    return {
      kind: "request",
      req: { long: false, code: buf[i + 4], payload: buf.slice(i + 5, i + 4 + l) },
      used: i + 4 + l,
    };
  }
  return { kind: "need-more", used: buf.length };
}

export function shortReply(code: number, payload: ArrayLike<number> = []): Uint8Array {
  const out = new Uint8Array(7 + payload.length);
  out[0] = 0x04;
  out[1] = 0x0e;
  out[2] = 4 + payload.length;
  out[3] = 0x01;
  out[4] = 0xe0;
  out[5] = 0xfc;
  out[6] = code;
  out.set(payload, 7);
  return out;
}

export function longReply(code: number, status: number, payload: ArrayLike<number> = []): Uint8Array {
  const out = new Uint8Array(11 + payload.length);
  const len = 2 + payload.length;
  out.set([0x04, 0x0e, 0xff, 0x01, 0xe0, 0xfc, 0xf4, len % 256, len >> 8, code, status]);
  out.set(payload, 11);
  return out;
}

export const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
export const rd32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
