/**
 * Host → chip request frames of the BK7231 UART download protocol.
 * Reference: ../shared/reference/bk7231-bootloader.md §2.1 (framing), §2.3 (commands), §2.4 (vectors).
 *
 *   short: 01 E0 FC | LEN=1+n | code | payload(n)
 *   long:  01 E0 FC | FF F4 | LEN u16 LE = 1+n | code | payload(n)
 *
 * Commands are identified by (code, set): 0x0E short = Reboot, 0x0E long = GetMID, etc.
 */
import { CodecError } from "../errors.ts";
import { concatBytes } from "../bytes.ts";

export const SHORT = {
  LinkCheck: 0x00,
  WriteReg: 0x01,
  ReadReg: 0x03,
  Reboot: 0x0e,
  SetBaudRate: 0x0f,
  CheckCRC: 0x10,
  ReadBootVersion: 0x11,
  ResetSean: 0x70,
  ResetOld: 0xfe,
  StayRom: 0xaa,
} as const;

export const LONG = {
  FlashWrite: 0x06,
  FlashWrite4K: 0x07,
  FlashRead: 0x08,
  FlashRead4K: 0x09,
  FlashEraseAll: 0x0a,
  FlashErase4K: 0x0b,
  FlashReadSR: 0x0c,
  FlashWriteSR: 0x0d,
  FlashGetMID: 0x0e,
  FlashErase: 0x0f,
} as const;

/** Size commands for FlashErase (SPI opcodes). */
export const ERASE = { Sector4K: 0x20, Block64K: 0xd8 } as const;
export const SECTOR = 0x1000;

export function shortRequest(code: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > 253) throw new CodecError("BK_TOO_LONG", `short request payload ${payload.length} > 253`);
  const out = new Uint8Array(5 + payload.length);
  out.set([0x01, 0xe0, 0xfc, 1 + payload.length, code]);
  out.set(payload, 5);
  return out;
}

export function longRequest(code: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > 0xfffe) throw new CodecError("BK_TOO_LONG", `long request payload ${payload.length}`);
  const out = new Uint8Array(8 + payload.length);
  const len = 1 + payload.length;
  out.set([0x01, 0xe0, 0xfc, 0xff, 0xf4, len & 0xff, len >> 8, code]);
  out.set(payload, 8);
  return out;
}

const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const cat = concatBytes;
const checkAddr = (addr: number) => {
  if (!Number.isInteger(addr) || addr < 0 || addr > 0xffffffff) {
    throw new CodecError("BK_ADDR", `address ${addr} out of range`);
  }
};

export const req = {
  linkCheck: () => shortRequest(SHORT.LinkCheck),
  writeReg: (addr: number, value: number) => shortRequest(SHORT.WriteReg, cat(u32(addr), u32(value))),
  readReg: (addr: number) => shortRequest(SHORT.ReadReg, u32(addr)),
  reboot: () => shortRequest(SHORT.Reboot, new Uint8Array([0xa5])),
  setBaudRate: (baud: number, delayMs: number) => {
    if (delayMs < 0 || delayMs > 255) throw new CodecError("BK_ARG", `baud delay ${delayMs} not a byte`);
    return shortRequest(SHORT.SetBaudRate, cat(u32(baud), [delayMs]));
  },
  /** `end` is sent as given: inclusive on BK7231N ROM, exclusive on BK7231T (see chips.ts crcEnd). */
  checkCrc: (start: number, end: number) => shortRequest(SHORT.CheckCRC, cat(u32(start), u32(end))),
  readBootVersion: () => shortRequest(SHORT.ReadBootVersion),
  resetSean: () => shortRequest(SHORT.ResetSean, new Uint8Array([0x53, 0x45, 0x41, 0x4e])),
  resetOld: () => shortRequest(SHORT.ResetOld, new Uint8Array([0x95, 0x27, 0x95, 0x27])),
  stayRom: () => shortRequest(SHORT.StayRom, new Uint8Array([0x55])),

  flashWrite: (addr: number, data: Uint8Array) => {
    checkAddr(addr);
    if (data.length === 0 || data.length > 256) throw new CodecError("BK_ARG", `FlashWrite of ${data.length} bytes`);
    return longRequest(LONG.FlashWrite, cat(u32(addr), data));
  },
  flashWrite4K: (addr: number, data: Uint8Array) => {
    checkAddr(addr);
    if (data.length !== SECTOR) throw new CodecError("BK_ARG", `FlashWrite4K needs 4096 bytes, got ${data.length}`);
    return longRequest(LONG.FlashWrite4K, cat(u32(addr), data));
  },
  flashRead: (addr: number, len: number) => {
    checkAddr(addr);
    return longRequest(LONG.FlashRead, cat(u32(addr), [len & 0xff, len >> 8]));
  },
  flashRead4K: (addr: number) => (checkAddr(addr), longRequest(LONG.FlashRead4K, u32(addr))),
  flashEraseAll: () => longRequest(LONG.FlashEraseAll, new Uint8Array([0x04])),
  flashErase4K: (addr: number) => (checkAddr(addr), longRequest(LONG.FlashErase4K, u32(addr))),
  flashReadSR: (opcode: number) => longRequest(LONG.FlashReadSR, new Uint8Array([opcode])),
  /** 1- or 2-byte status register write (opcode 0x01). */
  flashWriteSR: (value: number, size: 1 | 2, opcode = 0x01) =>
    longRequest(
      LONG.FlashWriteSR,
      new Uint8Array(size === 1 ? [opcode, value & 0xff] : [opcode, value & 0xff, (value >> 8) & 0xff]),
    ),
  flashGetMID: () => longRequest(LONG.FlashGetMID, u32(0x9f)),
  flashErase: (
    sizeCmd: number,
    addr: number,
  ) => (checkAddr(addr), longRequest(LONG.FlashErase, cat([sizeCmd], u32(addr)))),
};

/** ASCII `reboot\r\n`: asks a running OpenBeken/LibreTiny to reboot into the reset window. */
export const REBOOT_TEXT = new TextEncoder().encode("reboot\r\n");
