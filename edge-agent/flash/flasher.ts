/**
 * Drives one chip through the UART bootloader: link, identify, switch baud,
 * unprotect (N), read / erase / write with chip-side CRC verification and
 * retries, reboot. Facts: ../shared/reference/bk7231-bootloader.md.
 *
 * Safety rules kept here, not in callers:
 *  - BK7231T: nothing below 0x11000 is ever erased or written (it bricks the chip).
 *  - BK7231T: a LinkCheck follows every CheckCRC (CRC re-protect quirk, §3.7).
 *  - Every read and every written block is verified by the chip's CRC.
 */
import {
  BOOT_FINGERPRINTS,
  CHIP_ID_REG,
  CHIP_IDS,
  type ChipKind,
  crc32Jam,
  crcEnd,
  ERASE,
  type Expect,
  expect,
  flashSizeFromMid,
  parse,
  type Protocol,
  req,
  type ResponseFrame,
  SECTOR,
  srProtectMask,
  statusRegisterSize,
  T_BOOTLOADER_END,
} from "../../shared/bk7231/mod.ts";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { CodecError } from "../../shared/errors.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import type { SerialPort } from "../serial/mod.ts";
import { getBus } from "./bus.ts";
import { FlashError } from "./errors.ts";
import { BootLink, Timeout } from "./link.ts";

export interface FlasherOptions {
  clock?: Clock;
  log?: Logger;
  /** Expected chip; "auto" trusts detection. A mismatch is an error, not a guess. */
  chip?: "auto" | ChipKind;
  /** Transfer rate after linking at 115200; lower rates are tried if it fails. */
  baud?: number;
  /** SetBaudRate delay byte (BKT/HID 20 ms). */
  baudDelayMs?: number;
  linkTimeoutMs?: number;
  /** Base reply timeout added to the wire time of each command. */
  commandTimeoutMs?: number;
  onNeedReset?: (message: string) => void;
  /** How long a silent chip is waited for (busy flash, brown-out, a stall) before giving up with LINK_LOST. */
  stallPatienceMs?: number;
  /** Bytes verified per CheckCRC while reading (LTC: 32 KiB). */
  readChunk?: number;
  retries?: { read?: number; write?: number; verify?: number };
}

export interface ChipInfo {
  chip: ChipKind;
  protocol: Protocol;
  bootloader?: string;
  /** Raw CheckCRC(0, 0x100) value. */
  fingerprint: number;
  chipId?: number;
  bootVersion?: string | null;
  flashId?: number;
  flashSize: number;
  baud: number;
}

export interface Progress {
  phase: "link" | "read" | "erase" | "write" | "verify" | "done";
  done: number;
  total: number;
}

export const STANDARD_BAUDS = [3_000_000, 2_000_000, 1_500_000, 921_600, 460_800, 230_400, 115_200];
const FLASH_SIZE_DEFAULT = 0x200000;

export class Flasher {
  readonly link: BootLink;
  readonly clock: Clock;
  readonly log: Logger;
  info!: ChipInfo;
  #unprotected = false;
  readonly #o:
    & Required<Pick<FlasherOptions, "baudDelayMs" | "linkTimeoutMs" | "commandTimeoutMs" | "readChunk">>
    & FlasherOptions;
  readonly #retries: { read: number; write: number; verify: number };

  private constructor(readonly port: SerialPort, o: FlasherOptions) {
    this.link = new BootLink(port);
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? createLogger().child({ port: port.path });
    this.#o = { baudDelayMs: 20, linkTimeoutMs: 20_000, commandTimeoutMs: 1000, readChunk: 0x8000, ...o };
    this.#retries = { read: 20, write: 3, verify: 5, ...o.retries };
  }

  /** Get the bus, identify the chip, switch to the transfer rate. */
  static async connect(port: SerialPort, o: FlasherOptions = {}): Promise<Flasher> {
    const f = new Flasher(port, o);
    if (port.baud !== 115200) port.setBaud(115200); // the loader always starts at 115200
    await f.#getBus();
    await f.#identify();
    await f.#switchBaud(o.baud ?? 115200);
    return f;
  }

  #getBus() {
    return getBus(this.port, {
      clock: this.clock,
      log: this.log,
      linkTimeoutMs: this.#o.linkTimeoutMs,
      onNeedReset: this.#o.onNeedReset,
      probeBauds: [...new Set([this.#o.baud ?? 115200, ...STANDARD_BAUDS])].filter((b) => b > 115200),
    });
  }

  /** A command with retries on timeouts and malformed replies. */
  async #cmd<T>(
    what: string,
    request: Uint8Array,
    exp: Expect,
    decode: (f: ResponseFrame) => T,
    o: { tries?: number; extraMs?: number; replyBytes?: number } = {},
  ): Promise<T> {
    const tries = o.tries ?? 3;
    let timeouts = 0;
    let last: unknown;
    for (let i = 0; i < tries; i++) {
      try {
        const frame = await this.link.command(request, exp, this.#o.commandTimeoutMs + (o.extraMs ?? 0), o.replyBytes);
        return decode(frame);
      } catch (e) {
        if (!(e instanceof Timeout || e instanceof CodecError)) throw e;
        last = e;
        this.log.debug("retry", { what, attempt: i + 1, error: (e as Error).message });
        if (e instanceof Timeout && ++timeouts >= 2 && !(await this.#waitAlive())) break;
        await this.link.settle();
      }
    }
    throw new FlashError("LINK_LOST", `${what}: ${(last as Error)?.message ?? "no reply"}`, [
      "The chip stopped answering: check the 3.3 V supply (erase/program draws current), loose wires, or a second reset.",
      "The job can be resumed: run the same command again.",
    ], true);
  }

  /** Probe until the chip answers again or the stall patience runs out. */
  async #waitAlive(): Promise<boolean> {
    const until = this.clock.now() + (this.#o.stallPatienceMs ?? 5000);
    while (true) {
      if (await this.#alive()) return true;
      if (this.clock.now() >= until) return false;
      await this.clock.sleep(50);
    }
  }

  /** Is the chip still answering at all? */
  async #alive(): Promise<boolean> {
    await this.link.settle();
    try {
      parse.linkCheck(await this.link.command(req.linkCheck(), expect.linkCheck, 150));
      return true;
    } catch (e) {
      if (e instanceof Timeout || e instanceof CodecError) return false;
      throw e;
    }
  }

  async #identify() {
    const fingerprint = await this.#cmd("CheckCRC(0,0x100)", req.checkCrc(0, 0x100), expect.checkCrc, parse.checkCrc);
    const boot = BOOT_FINGERPRINTS[fingerprint];
    let protocol: Protocol | undefined = boot?.protocol;
    let chip: ChipKind | undefined;
    let chipId: number | undefined;
    let bootVersion: string | null | undefined;
    if (boot && boot.chip !== "bk7231n" && boot.chip !== "bk7231t") {
      throw new FlashError("UNKNOWN_CHIP", `${boot.name} is not supported by this bench (BK7231N/T only)`);
    }
    chip = boot?.chip as ChipKind | undefined;
    if (!boot) {
      this.log.warn("unknown bootloader CRC, probing", { fingerprint: fingerprint.toString(16) });
      if (protocolIsBasic(protocol)) await this.#relinkAfterCrc();
      // the T loader has no ReadReg and a T-type loader would also need its CRC lock marked
      chipId = await this.#probe(req.readReg(CHIP_ID_REG), expect.readReg, (f) => parse.readReg(f, CHIP_ID_REG));
      if (chipId !== undefined && CHIP_IDS[chipId] === "bk7231n") {
        chip = "bk7231n";
        protocol = "FULL";
      } else {
        await this.#relinkAfterCrc();
        bootVersion = await this.#probe(req.readBootVersion(), expect.readBootVersion, parse.readBootVersion);
        if (bootVersion !== undefined) {
          chip = "bk7231t";
          protocol = "BASIC_TUYA";
        }
      }
    }
    const want = this.#o.chip ?? "auto";
    if (!chip || !protocol) {
      if (want === "auto") {
        throw new FlashError(
          "UNKNOWN_CHIP",
          `unknown bootloader (CRC 0x${fingerprint.toString(16)}); pass --chip bk7231n|bk7231t if you are sure`,
        );
      }
      chip = want;
      protocol = want === "bk7231n" ? "FULL" : "BASIC_TUYA";
    } else if (want !== "auto" && want !== chip) {
      throw new FlashError("CHIP_MISMATCH", `--chip ${want} but the bootloader is ${boot?.name ?? chip}`, [
        "Writing an image for the wrong chip gives CRC mismatches or a dead unit; check the module (CB2S/CB3S/CBU = N, WB2S/WB3S = T).",
      ]);
    }
    if (protocol !== "FULL") await this.#relinkAfterCrc();
    let flashId: number | undefined;
    let flashSize = FLASH_SIZE_DEFAULT;
    if (chip === "bk7231n") {
      chipId ??= await this.#cmd(
        "ReadReg(chip id)",
        req.readReg(CHIP_ID_REG),
        expect.readReg,
        (f) => parse.readReg(f, CHIP_ID_REG),
      );
      flashId = await this.#cmd("GetMID", req.flashGetMID(), expect.flashGetMID, parse.flashGetMID);
      if (flashId !== 0 && flashId !== 0xffffff) flashSize = flashSizeFromMid(flashId);
    } else {
      bootVersion ??= await this.#probe(req.readBootVersion(), expect.readBootVersion, parse.readBootVersion);
    }
    this.info = {
      chip,
      protocol,
      bootloader: boot?.name,
      fingerprint,
      chipId,
      bootVersion,
      flashId,
      flashSize,
      baud: this.port.baud,
    };
    this.log.info("chip identified", {
      ...this.info,
      fingerprint: fingerprint.toString(16),
      flashId: flashId?.toString(16),
    });
  }

  /** One try with a short timeout; undefined if the loader stays silent (unsupported command). */
  async #probe<T>(r: Uint8Array, e: Expect, decode: (f: ResponseFrame) => T): Promise<T | undefined> {
    try {
      return decode(await this.link.command(r, e, 200));
    } catch (err) {
      if (err instanceof Timeout || err instanceof CodecError) {
        await this.link.settle();
        return undefined;
      }
      throw err;
    }
  }

  /** BASIC loaders lock the flash after CheckCRC; a link check marks the lock so the next erase clears it. */
  async #relinkAfterCrc() {
    await this.#cmd("LinkCheck", req.linkCheck(), expect.linkCheck, parse.linkCheck);
  }
  async #afterCrc() {
    if (this.info.protocol !== "FULL") await this.#relinkAfterCrc();
  }

  /** Switch the transfer rate; fall back to lower standard rates (a reset is needed after a failed switch). */
  async #switchBaud(target: number) {
    const candidates = [target, ...STANDARD_BAUDS.filter((b) => b < target)];
    for (const baud of candidates) {
      if (baud === this.port.baud) break;
      if (await this.#trySetBaud(baud)) {
        this.info.baud = baud;
        this.log.info("baud switched", { baud });
        return;
      }
      this.log.warn("baud switch failed, relinking at 115200", { baud });
      this.port.setBaud(115200);
      if (!(await this.#alive())) {
        // the chip already moved to the rate the adapter cannot do: only a reset brings it back
        await this.#getBus();
        if (this.info.protocol !== "FULL") await this.#relinkAfterCrc();
      }
    }
    if (this.port.baud !== 115200 || target === 115200) {
      this.info.baud = this.port.baud;
      return;
    }
    this.info.baud = 115200;
    this.log.warn("staying at 115200", { wanted: target });
  }

  async #trySetBaud(baud: number): Promise<boolean> {
    const delay = this.#o.baudDelayMs;
    await this.link.settle();
    const old = this.port.baud;
    await this.port.write(req.setBaudRate(baud, delay));
    await this.port.drain();
    await this.clock.sleep(delay / 2);
    try {
      this.port.setBaud(baud);
    } catch (e) {
      this.log.warn("adapter refused baud", { baud, error: e });
      this.port.setBaud(old);
      return false;
    }
    try {
      parse.setBaudRate(await this.link.receive(expect.setBaudRate, 500 + delay), baud, delay);
    } catch (e) {
      if (!(e instanceof Timeout || e instanceof CodecError)) throw e;
      this.log.debug("no baud echo", { baud, error: (e as Error).message });
    }
    // one round trip at the new rate proves both directions work (even if the echo got lost)
    for (let i = 0; i < 2; i++) {
      try {
        await this.link.settle();
        parse.linkCheck(await this.link.command(req.linkCheck(), expect.linkCheck, 300));
        return true;
      } catch (e) {
        if (!(e instanceof Timeout || e instanceof CodecError)) throw e;
      }
    }
    return false;
  }

  /** Wire address for a flash offset: BK7231T reads of its bootloader area go through the +size alias (§3.4). */
  #readAddr(addr: number) {
    return this.info.chip === "bk7231t" && addr < T_BOOTLOADER_END ? addr + this.info.flashSize : addr;
  }

  /** Chip CRC of [start, end) compared with the expected bytes. */
  async verify(start: number, data: Uint8Array): Promise<boolean> {
    const ws = this.#readAddr(start);
    const we = ws + data.length;
    const crc = await this.#cmd(
      "CheckCRC",
      req.checkCrc(ws, crcEnd(this.info.protocol, we)),
      expect.checkCrc,
      parse.checkCrc,
      { extraMs: data.length / 100 }, // chip CRC runs at ~400 kB/s; allow 4× that
    );
    await this.#afterCrc();
    return crc === crc32Jam(data);
  }

  async readSector(addr: number): Promise<Uint8Array> {
    const wire = this.#readAddr(addr);
    return await this.#cmd(
      `Read4K 0x${addr.toString(16)}`,
      req.flashRead4K(wire),
      expect.flashRead4K,
      (f) => parse.flashRead4K(f, wire),
      {
        tries: this.#retries.read,
        extraMs: this.link.wireMs(4111) * 0.5,
        replyBytes: 4111,
      },
    );
  }

  /**
   * Read [start, start+len) in verified chunks. `skip(offset)` lets a resumed
   * job pass over chunks it already has; `onChunk` receives each verified chunk.
   */
  async readRange(
    start: number,
    len: number,
    o: {
      onProgress?: (p: Progress) => void;
      skip?: (offset: number, len: number) => boolean | Promise<boolean>;
      onChunk?: (offset: number, data: Uint8Array) => Promise<void> | void;
    } = {},
  ): Promise<void> {
    if (start % SECTOR || len % SECTOR) throw new FlashError("BAD_IMAGE", "read range must be 4 KiB aligned");
    const chunk = this.#o.readChunk;
    let done = 0;
    for (let off = start; off < start + len; off += chunk) {
      const clen = Math.min(chunk, start + len - off);
      if (await o.skip?.(off, clen)) {
        done += clen;
        o.onProgress?.({ phase: "read", done, total: len });
        continue;
      }
      let data: Uint8Array | undefined;
      for (let attempt = 0; attempt <= this.#retries.verify; attempt++) {
        const buf = new Uint8Array(clen);
        for (let s = 0; s < clen; s += SECTOR) {
          buf.set(await this.readSector(off + s), s);
          o.onProgress?.({ phase: "read", done: done + s + SECTOR, total: len });
        }
        if (await this.verify(off, buf)) {
          data = buf;
          break;
        }
        this.log.warn("read CRC mismatch, reading again", { offset: off, attempt: attempt + 1 });
      }
      if (!data) {
        throw new FlashError("VERIFY_FAILED", `read at 0x${off.toString(16)} never matched the chip CRC`, [
          "Lower the baud rate (--baud 115200) or shorten the wires.",
        ], true);
      }
      await o.onChunk?.(off, data);
      done += clen;
    }
    o.onProgress?.({ phase: "read", done: len, total: len });
  }

  /** Refuse anything that would erase or write the BK7231T bootloader. */
  #guard(addr: number, len: number) {
    if (this.info.chip === "bk7231t" && addr < T_BOOTLOADER_END) {
      throw new FlashError(
        "REFUSED",
        `refusing to touch 0x${addr.toString(16)}..0x${
          (addr + len).toString(16)
        } on a BK7231T: the bootloader lives below 0x11000 and overwriting it bricks the chip`,
      );
    }
    if (addr + len > this.info.flashSize) {
      throw new FlashError(
        "REFUSED",
        `0x${addr.toString(16)}+${len} is past the end of the ${this.info.flashSize >> 20} MiB flash`,
      );
    }
  }

  /** BK7231N: clear the status-register block-protect bits (§3.6). The T loader unprotects on erase. */
  async unprotect() {
    if (this.#unprotected || this.info.protocol !== "FULL") return;
    const mid = this.info.flashId ?? 0;
    const size = statusRegisterSize(mid);
    for (let attempt = 0; attempt < 10; attempt++) {
      const sr1 = await this.#cmd(
        "ReadSR1",
        req.flashReadSR(0x05),
        expect.flashReadSR,
        (f) => parse.flashReadSR(f, 0x05),
      );
      const sr2 = size === 2
        ? await this.#cmd("ReadSR2", req.flashReadSR(0x35), expect.flashReadSR, (f) => parse.flashReadSR(f, 0x35))
        : 0;
      const sr = sr1 | (sr2 << 8);
      const mask = srProtectMask(size ?? 1);
      if ((sr & mask) === 0 && (size !== undefined || (sr1 & 0x7c) === 0)) {
        this.#unprotected = true;
        this.log.info("flash unprotected", { sr: sr.toString(16) });
        return;
      }
      if (size === undefined) {
        throw new FlashError(
          "PROTECTED",
          `flash id 0x${mid.toString(16)} is not in the status-register table and its SR is 0x${
            sr.toString(16)
          }; not guessing how to unprotect it`,
        );
      }
      const want = sr & ~mask;
      await this.#cmd(
        "WriteSR",
        req.flashWriteSR(want, size),
        expect.flashWriteSR,
        (f) => parse.flashWriteSR(f, want, size),
      );
      await this.clock.sleep(10);
    }
    throw new FlashError("PROTECTED", "flash status register would not clear its protect bits", [
      "Check the 3.3 V supply and retry.",
    ], true);
  }

  async #erase(addr: number, len: 0x1000 | 0x10000) {
    this.#guard(addr, len);
    const size = len === 0x1000 ? ERASE.Sector4K : ERASE.Block64K;
    await this.#cmd(
      `Erase 0x${addr.toString(16)}`,
      req.flashErase(size, addr),
      expect.flashErase,
      (f) => parse.flashErase(f, size, addr),
      {
        extraMs: len === 0x1000 ? 500 : 3000,
      },
    );
  }

  async #writeSector(addr: number, data: Uint8Array) {
    this.#guard(addr, SECTOR);
    await this.#cmd(
      `Write4K 0x${addr.toString(16)}`,
      req.flashWrite4K(addr, data),
      expect.flashWrite4K,
      (f) => parse.flashWrite4K(f, addr),
      {
        tries: 1,
        extraMs: 200 + this.link.wireMs(4108),
      },
    );
  }

  /**
   * Erase, write and CRC-verify [addr, addr+data.length) block by block (64 KiB,
   * 4 KiB at the edges). A block that fails verification is erased and written
   * again. `skip` / `onBlock` let a job journal and resume.
   */
  async writeRange(
    addr: number,
    image: Uint8Array,
    o: {
      onProgress?: (p: Progress) => void;
      skip?: (offset: number, len: number) => boolean | Promise<boolean>;
      onBlock?: (offset: number, len: number) => Promise<void> | void;
    } = {},
  ): Promise<void> {
    if (addr % SECTOR) throw new FlashError("BAD_IMAGE", "write address must be 4 KiB aligned");
    const padded = new Uint8Array(Math.ceil(image.length / SECTOR) * SECTOR).fill(0xff);
    padded.set(image);
    this.#guard(addr, padded.length);
    await this.unprotect();
    const end = addr + padded.length;
    let done = 0;
    for (let b = addr; b < end;) {
      const blockEnd = Math.min(end, (Math.floor(b / 0x10000) + 1) * 0x10000);
      const len = blockEnd - b;
      const data = padded.subarray(b - addr, blockEnd - addr);
      if (await o.skip?.(b, len)) {
        done += len;
        o.onProgress?.({ phase: "write", done, total: padded.length });
        b = blockEnd;
        continue;
      }
      let ok = false;
      for (let attempt = 0; attempt <= this.#retries.write && !ok; attempt++) {
        if (attempt > 0) this.log.warn("block verify failed, erasing and writing again", { addr: b, attempt });
        o.onProgress?.({ phase: "erase", done, total: padded.length });
        if (len === 0x10000) await this.#erase(b, 0x10000);
        else for (let s = b; s < blockEnd; s += SECTOR) await this.#erase(s, 0x1000);
        for (let s = 0; s < len; s += SECTOR) {
          const sector = data.subarray(s, s + SECTOR);
          if (!sector.every((x) => x === 0xff)) await this.#writeSectorRetrying(b + s, sector);
          o.onProgress?.({ phase: "write", done: done + s + SECTOR, total: padded.length });
        }
        o.onProgress?.({ phase: "verify", done: done + len, total: padded.length });
        ok = await this.verify(b, data);
      }
      if (!ok) {
        throw new FlashError(
          "VERIFY_FAILED",
          `block 0x${b.toString(16)} did not verify after ${this.#retries.write + 1} erase/write rounds`,
          [
            "A weak 3.3 V supply is the usual cause during erase/program; then lower the baud rate.",
          ],
          true,
        );
      }
      await o.onBlock?.(b, len);
      done += len;
      b = blockEnd;
    }
    o.onProgress?.({ phase: "done", done: padded.length, total: padded.length });
  }

  /** A lost write ack: erase that sector again and rewrite it (BKT write retries). */
  async #writeSectorRetrying(addr: number, sector: Uint8Array) {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#writeSector(addr, sector);
      } catch (e) {
        if (!(e instanceof FlashError && e.code === "LINK_LOST") || attempt >= this.#retries.write) throw e;
        if (!(await this.#waitAlive())) throw e;
        this.log.warn("write not acknowledged, re-erasing sector", { addr, attempt: attempt + 1 });
        await this.#erase(addr, 0x1000);
      }
    }
  }

  /**
   * End a session but stay in download mode at 115200, so the next command
   * (e.g. a write after a backup) links at once without a reset.
   */
  async release() {
    if (this.port.baud === 115200) return;
    if (await this.#trySetBaud(115200)) this.info.baud = 115200;
  }

  /** Leave download mode and boot the firmware (HID sends it 3× 10 ms apart). */
  async reboot() {
    for (let i = 0; i < 3; i++) {
      await this.port.write(req.reboot());
      await this.clock.sleep(10);
    }
  }
}

function protocolIsBasic(p: Protocol | undefined) {
  return p === "BASIC_TUYA" || p === "BASIC_BEKEN";
}
