/**
 * A strict BK7231N (mask-ROM loader, FULL protocol) or BK7231T (Tuya flash
 * bootloader BK7231S_1.0.5, BASIC_TUYA protocol) on a pseudo-terminal.
 *
 * Modelled (../shared/reference/bk7231-bootloader.md): the listen window after
 * reset (§1.1), 115200 start rate and SetBaudRate echo at the new rate after
 * delay_ms (§2.6), CheckCRC end inclusive on N / exclusive on T (§2.5), address
 * wrap at the flash size and the T alias trick (§3.4), T read protection of
 * 0x0–0x11000 (status 6), the T CRC re-protect quirk (§3.7), N status-register
 * block protection that makes erase/program silently do nothing (§3.6),
 * GetMID's LEN 6 quirk, commands a loader does not know get no reply at all.
 * Faults: see Bk7231Faults.
 */
import type { ChipKind } from "../../shared/bk7231/chips.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import { openPty, type Pty } from "../serial/mod.ts";
import { forgeCrc, SimFlash } from "./bk7231-flash.ts";
import { le32, longReply, parseRequest, rd32, type Request, shortReply } from "./bk7231-wire.ts";
import { SimLine } from "./line.ts";

export interface Bk7231Timing {
  /** How long the loader listens for a link check after reset. */
  resetWindowMs: number;
  /** Busy time of the SPI flash (the bench subtracts these; tests keep them 0). */
  eraseSectorMs: number;
  eraseBlockMs: number;
  programSectorMs: number;
  /** Chip-side CRC speed; 0 = instant. BKT assumes 400 bytes/ms. */
  crcBytesPerMs: number;
}

export interface Bk7231Faults {
  /** An RN8209C / TuyaMCU holding UART1: the chip never hears or answers anything. */
  blockedUart?: boolean;
  /** Flip one data byte in the next Read4K reply for these addresses (once each). */
  corruptReadAt?: number[];
  /** Lose one data byte from the next Read4K reply for these addresses (once each). */
  dropReadByteAt?: number[];
  /** The chip receives a flipped data byte in the next Write4K to these addresses (once each). */
  corruptWriteAt?: number[];
  /** After this many download-mode commands, stop answering for stallMs (once). */
  stallAfterCommands?: number;
  stallMs?: number;
  /** During the Nth Write4K (1-based) power fails: half the sector is programmed, then silence. */
  powerLossAtWrite?: number;
  /** The adapter cannot do rates above this: everything turns to noise. */
  maxBaud?: number;
  /** Send an extra link-check reply before the baud echo (hid_download_py#3). */
  strayLinkReplyOnBaud?: boolean;
  /**
   * Another chip talking on UART1 outside download mode, every ~100 ms: e.g. a TuyaMCU
   * heartbeat `55 AA 03 00 00 01 00 03` — the flasher's diagnosis should name it.
   */
  chatter?: Uint8Array;
}

export interface Bk7231SimOptions {
  chip: ChipKind;
  /** Initial flash contents; default: a generated stock-Tuya-like image. */
  image?: Uint8Array;
  /** What runs after the window closes. OpenBeken reboots on `reboot\r\n`; stock Tuya ignores UART1. */
  firmware?: "openbeken" | "tuya";
  /** JEDEC id (M | T<<8 | C<<16), N only. Default TH25Q16HB 0x1560EB (2-byte SR). */
  flashId?: number;
  /** Initial status register (N). Default: protected as Tuya firmware leaves it (0x4004 / 0x5C). */
  initialSr?: number;
  /**
   * MAC written into the generated image's TLV sector. Default: derived from the pty path
   * (`macForPty`), so simulators started side by side are distinct units, as real chips are.
   */
  mac?: string;
  pacing?: boolean;
  timing?: Partial<Bk7231Timing>;
  faults?: Bk7231Faults;
  /** Start powered and inside the reset window (default true). */
  poweredOn?: boolean;
  log?: Logger;
}

export interface SimStats {
  commands: number;
  reads: number;
  writes: number;
  erases: number;
  resets: number;
  /** Simulated flash busy time (erase, program, CRC) in ms. */
  busyMs: number;
  eraseMs: number;
  /** Erase/program attempts that reached 0x0–0x11000 on a BK7231T (must stay empty). */
  bootloaderViolations: number[];
}

type Mode = "off" | "window" | "app" | "download" | "stalled";
const FLASH_SIZE = 0x200000;
const T_BOOT_END = 0x11000;

export class Bk7231Sim {
  readonly flash: SimFlash;
  readonly line: SimLine;
  readonly stats: SimStats = {
    commands: 0,
    reads: 0,
    writes: 0,
    erases: 0,
    resets: 0,
    busyMs: 0,
    eraseMs: 0,
    bootloaderViolations: [],
  };
  mode: Mode = "off";
  #windowEnd = 0;
  #stallEnd = 0;
  #rx = new Uint8Array(0);
  #stopped = false;
  #loop: Promise<void> | null = null;
  /** T quirk (§3.7): "none" = writable; CheckCRC locks without marking; LinkCheck marks; an erase unlocks a marked lock. */
  #tLock: "none" | "locked-unmarked" | "locked-marked" = "locked-marked";
  #writes4k = 0;
  #stalled = false;
  readonly timing: Bk7231Timing;
  readonly faults: Bk7231Faults;
  readonly log: Logger;
  #regs = new Map<number, number>();

  private constructor(readonly pty: Pty, readonly opts: Bk7231SimOptions) {
    this.timing = {
      resetWindowMs: 300,
      eraseSectorMs: 0,
      eraseBlockMs: 0,
      programSectorMs: 0,
      crcBytesPerMs: 0,
      ...opts.timing,
    };
    this.faults = { ...opts.faults };
    for (const k of ["corruptReadAt", "dropReadByteAt", "corruptWriteAt"] as const) {
      if (this.faults[k]) this.faults[k] = [...this.faults[k]!];
    }
    this.log = opts.log ?? createLogger({ level: "warn" }).child({ sim: "bk7231", chip: opts.chip });
    const isN = opts.chip === "bk7231n";
    const mid = isN ? opts.flashId ?? 0x1560eb : 0x1560eb;
    const srSize: 1 | 2 = mid === 0x15701c ? 1 : 2;
    const sr = opts.initialSr ?? (isN ? (srSize === 2 ? 0x4004 : 0x5c) : 0);
    this.flash = new SimFlash(
      FLASH_SIZE,
      mid,
      srSize,
      sr,
      opts.image ?? generateStockImage(opts.chip, opts.mac ?? macForPty(pty.slavePath)),
    );
    this.line = new SimLine(pty, { pacing: opts.pacing, maxBaud: this.faults.maxBaud });
    this.#regs.set(0x800000, isN ? 0x7231c : 0);
  }

  /** Open a pty and start serving; the host opens `sim.path`. */
  static start(opts: Bk7231SimOptions): Bk7231Sim {
    const sim = new Bk7231Sim(openPty(), opts);
    if (opts.poweredOn !== false) sim.reset();
    sim.#loop = sim.#run();
    return sim;
  }

  get path() {
    return this.pty.slavePath;
  }

  /** Reset pulse on CEN / power cycle: back to 115200, listening for a link check. */
  reset() {
    this.mode = "window";
    this.#windowEnd = performance.now() + this.timing.resetWindowMs;
    this.line.baud = 115200;
    this.#tLock = "locked-marked";
    this.#rx = new Uint8Array(0);
    this.stats.resets++;
  }
  powerOff() {
    this.mode = "off";
  }
  /** Replace a fault at run time (e.g. unblock the UART after "desoldering" the RN8209C). */
  setFault<K extends keyof Bk7231Faults>(k: K, v: Bk7231Faults[K]) {
    this.faults[k] = v;
    if (k === "maxBaud") this.line.maxBaud = v as number | undefined;
  }

  async stop() {
    this.#stopped = true;
    await this.#loop;
    await this.pty.close();
  }

  async #run() {
    let lastChatter = 0;
    while (!this.#stopped) {
      if (this.faults.chatter && this.mode !== "download" && performance.now() - lastChatter > 100) {
        lastChatter = performance.now();
        await this.line.send(this.faults.chatter).catch(() => {});
      }
      let got: Uint8Array;
      try {
        got = await this.line.receive(20);
      } catch (e) {
        if (this.#stopped) break;
        this.log.warn("line error", { error: e });
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const now = performance.now();
      if (this.mode === "window" && now > this.#windowEnd) this.mode = "app";
      if (this.mode === "stalled" && now > this.#stallEnd) this.mode = "download";
      if (got.length === 0) continue;
      if (this.mode === "off" || this.mode === "stalled" || this.faults.blockedUart) continue;
      const merged = new Uint8Array(this.#rx.length + got.length);
      merged.set(this.#rx);
      merged.set(got, this.#rx.length);
      this.#rx = merged;
      await this.#drain();
    }
  }

  async #drain() {
    while (this.#rx.length > 0 && !this.#stopped) {
      const acceptText = this.mode === "app" && (this.opts.firmware ?? "openbeken") === "openbeken";
      const p = parseRequest(this.#rx, acceptText);
      this.#rx = this.#rx.slice(p.used);
      if (p.kind === "need-more") {
        if (this.#rx.length > 70000) this.#rx = new Uint8Array(0); // junk that never framed
        return;
      }
      if (p.kind === "text") {
        this.log.info("app got reboot command");
        this.reset();
        continue;
      }
      const { req } = p;
      if (this.mode === "window") {
        if (!req.long && req.code === 0x00 && req.payload.length === 0) {
          this.mode = "download";
          await this.#reply(shortReply(0x01, [0x00]));
        }
        continue;
      }
      if (this.mode !== "download") continue;
      await this.line.rxSettled();
      this.stats.commands++;
      await this.#command(req);
      if (
        this.faults.stallAfterCommands !== undefined && !this.#stalled &&
        this.stats.commands >= this.faults.stallAfterCommands && this.mode === "download"
      ) {
        this.#stalled = true;
        this.mode = "stalled";
        this.#stallEnd = performance.now() + (this.faults.stallMs ?? 1000);
        this.#rx = new Uint8Array(0);
        return;
      }
      if (this.mode !== "download") return;
    }
  }

  #reply(bytes: Uint8Array) {
    return this.line.send(bytes);
  }

  async #busy(ms: number, erase = false) {
    if (ms <= 0) return;
    this.stats.busyMs += ms;
    if (erase) this.stats.eraseMs += ms;
    await new Promise((r) => setTimeout(r, ms));
  }

  get #isN() {
    return this.opts.chip === "bk7231n";
  }

  /** Host-side guard on T must keep erases/writes out of the bootloader; we only record. */
  #checkT(addr: number, len: number) {
    if (this.#isN) return;
    const a = this.flash.wrap(addr);
    if (a < T_BOOT_END || a + len > FLASH_SIZE) this.stats.bootloaderViolations.push(addr);
  }

  async #command(r: Request) {
    const p = r.payload;
    const N = this.#isN;
    if (!r.long) {
      switch (r.code) {
        case 0x00: // LinkCheck
          if (p.length !== 0) return;
          if (this.#tLock === "locked-unmarked") this.#tLock = "locked-marked";
          return this.#reply(shortReply(0x01, [0x00]));
        case 0x01: // WriteReg
          if (!N || p.length !== 8) return;
          this.#regs.set(rd32(p, 0), rd32(p, 4));
          return this.#reply(shortReply(0x01, p));
        case 0x03: // ReadReg
          if (!N || p.length !== 4) return;
          return this.#reply(shortReply(0x03, [...p, ...le32(this.#regs.get(rd32(p, 0)) ?? 0)]));
        case 0x0e: // Reboot
          if (p.length !== 1 || p[0] !== 0xa5) return;
          this.reset(); // the app boots unless someone links inside the window
          return;
        case 0x0f: { // SetBaudRate
          if (p.length !== 5) return;
          const baud = rd32(p, 0);
          await new Promise((res) => setTimeout(res, p[4]));
          this.line.baud = baud;
          if (this.faults.strayLinkReplyOnBaud) await this.#reply(shortReply(0x01, [0x00]));
          return this.#reply(shortReply(0x0f, p));
        }
        case 0x10: { // CheckCRC
          if (p.length !== 8) return;
          const start = rd32(p, 0);
          const end = N ? rd32(p, 4) + 1 : rd32(p, 4);
          if (end < start) return this.#reply(shortReply(0x10, le32(0xffffffff)));
          const crc = this.flash.crc(start, end);
          if (this.timing.crcBytesPerMs > 0) await this.#busy((end - start) / this.timing.crcBytesPerMs);
          if (!N) this.#tLock = "locked-unmarked";
          return this.#reply(shortReply(0x10, le32(crc)));
        }
        case 0x11: { // ReadBootVersion (T loader only)
          if (N || p.length !== 0) return;
          const v = new Uint8Array(16);
          v.set(new TextEncoder().encode("BK7231S_1.0.5"));
          return this.#reply(shortReply(0x11, v));
        }
        case 0xaa: // StayRom
          if (!N || p.length !== 1 || p[0] !== 0x55) return;
          return this.#reply(shortReply(0xaa, [0x55]));
        case 0x70:
        case 0xfe:
          if (N) this.reset();
          return;
      }
      return;
    }
    switch (r.code) {
      case 0x06: { // FlashWrite ≤256
        if (p.length < 5 || p.length > 4 + 256) return;
        const addr = rd32(p, 0);
        this.#checkT(addr, p.length - 4);
        if (this.#writable()) this.flash.program(addr, p.subarray(4));
        this.stats.writes++;
        return this.#reply(longReply(0x06, 0, [...le32(addr), (p.length - 4) & 0xff]));
      }
      case 0x07: { // FlashWrite4K
        if (p.length !== 4 + 4096) return;
        const addr = rd32(p, 0);
        let data = p.subarray(4);
        this.#checkT(addr, 4096);
        this.#writes4k++;
        this.stats.writes++;
        const ci = this.faults.corruptWriteAt?.indexOf(addr) ?? -1;
        if (ci >= 0) {
          this.faults.corruptWriteAt!.splice(ci, 1);
          data = data.slice();
          data[1234] ^= 0x10;
        }
        if (this.faults.powerLossAtWrite === this.#writes4k) {
          if (this.#writable()) this.flash.program(addr, data.subarray(0, 2048));
          this.log.warn("power lost mid-write", { addr });
          this.powerOff();
          return;
        }
        if (this.#writable()) this.flash.program(addr, data);
        await this.#busy(this.timing.programSectorMs);
        return this.#reply(longReply(0x07, 0, le32(addr)));
      }
      case 0x08: { // FlashRead (N)
        if (!N || p.length !== 6) return;
        const addr = rd32(p, 0);
        const len = p[4] | (p[5] << 8);
        return this.#reply(longReply(0x08, 0, [...le32(addr), ...this.flash.read(addr, len)]));
      }
      case 0x09: { // FlashRead4K
        if (p.length !== 4) return;
        const addr = rd32(p, 0);
        this.stats.reads++;
        if (!N && addr < T_BOOT_END) return this.#reply(longReply(0x09, 6, [0x00])); // refused, ltchiptool#34
        const payload = new Uint8Array(4 + 4096);
        payload.set(le32(addr));
        payload.set(this.flash.read(addr, 4096), 4);
        const ci = this.faults.corruptReadAt?.indexOf(addr) ?? -1;
        if (ci >= 0) {
          this.faults.corruptReadAt!.splice(ci, 1);
          payload[4 + 777] ^= 0x01;
        }
        const di = this.faults.dropReadByteAt?.indexOf(addr) ?? -1;
        if (di >= 0) {
          this.faults.dropReadByteAt!.splice(di, 1);
          const full = longReply(0x09, 0, payload);
          return this.#reply(new Uint8Array([...full.subarray(0, 2000), ...full.subarray(2001)]));
        }
        return this.#reply(longReply(0x09, 0, payload));
      }
      case 0x0a: // FlashEraseAll: a T loader would erase itself; it does not offer it
        if (!N || p.length !== 1) return;
        if (this.flash.erase(0, FLASH_SIZE)) await this.#busy(this.timing.eraseBlockMs * 32, true);
        return this.#reply(longReply(0x0a, 0, [p[0]]));
      case 0x0b: { // FlashErase4K (N)
        if (!N || p.length !== 4) return;
        const addr = rd32(p, 0);
        this.stats.erases++;
        this.flash.erase(addr, 4096);
        await this.#busy(this.timing.eraseSectorMs, true);
        return this.#reply(longReply(0x0b, 0, le32(addr)));
      }
      case 0x0c: { // FlashReadSR (N)
        if (!N || p.length !== 1) return;
        const v = p[0] === 0x05
          ? this.flash.sr & 0xff
          : p[0] === 0x35 && this.flash.srSize === 2
          ? this.flash.sr >> 8
          : 0;
        return this.#reply(longReply(0x0c, 0, [p[0], v]));
      }
      case 0x0d: { // FlashWriteSR (N)
        if (!N || (p.length !== 2 && p.length !== 3) || p[0] !== 0x01) return;
        this.flash.sr = p.length === 2 ? (this.flash.sr & 0xff00) | p[1] : p[1] | (p[2] << 8);
        return this.#reply(longReply(0x0d, 0, p));
      }
      case 0x0e: { // GetMID (N): LEN 6, one ignored byte before M T C
        if (!N || p.length !== 4 || rd32(p, 0) !== 0x9f) return;
        const m = this.flash.mid;
        return this.#reply(longReply(0x0e, 0, [0x00, m & 0xff, (m >> 8) & 0xff, (m >> 16) & 0xff]));
      }
      case 0x0f: { // FlashErase 4K / 64K
        if (p.length !== 5 || (p[0] !== 0x20 && p[0] !== 0xd8)) return;
        const addr = rd32(p, 1);
        const len = p[0] === 0x20 ? 0x1000 : 0x10000;
        this.#checkT(addr & ~(len - 1), len);
        this.stats.erases++;
        if (!N) {
          if (this.#tLock === "locked-marked") this.#tLock = "none";
          if (this.#tLock === "none") {
            this.flash.data.fill(0xff, this.flash.wrap(addr) & ~(len - 1), (this.flash.wrap(addr) & ~(len - 1)) + len);
          }
        } else {
          this.flash.erase(addr, len);
        }
        await this.#busy(len === 0x1000 ? this.timing.eraseSectorMs : this.timing.eraseBlockMs, true);
        return this.#reply(longReply(0x0f, 0, p));
      }
    }
  }

  #writable() {
    return this.#isN ? !this.flash.protected : this.#tLock === "none";
  }
}

/**
 * A MAC of Tuya's c8:47:8c range derived from the pty path: `/dev/pts/7` → c8:47:8c:20:00:07
 * (the pts number in the last two bytes; other paths hashed), so every simulator on a host differs.
 */
export function macForPty(path: string): string {
  const n = /\/pts\/(\d+)$/.exec(path)?.[1];
  let v = n !== undefined && Number(n) < 0x10000 ? Number(n) : 0;
  if (n === undefined || Number(n) >= 0x10000) {
    for (const ch of path) v = (Math.imul(v, 31) + ch.charCodeAt(0)) & 0xffff;
  }
  return `c8:47:8c:20:${(v >> 8).toString(16).padStart(2, "0")}:${(v & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * A stock-Tuya-like 2 MiB image: a bootloader whose first bytes carry the real
 * fingerprint (§3.5), app bytes, the TLV sector with the MAC, the rest erased.
 */
export function generateStockImage(chip: ChipKind, mac = "c8:47:8c:11:22:33", seed = 7231): Uint8Array {
  const flash = new SimFlash(FLASH_SIZE, 0x1560eb, 2, 0);
  let x = seed >>> 0;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) >>> 24);
  for (let a = 0; a < 0x11000 - 0x400; a++) flash.data[a] = rnd();
  for (let a = 0x11000; a < 0x11000 + 0xf0000; a++) flash.data[a] = rnd();
  if (chip === "bk7231n") forgeCrc(flash, 0, 0x101, 0x1ebe6e45); // BK7231N 1.0.1, end-inclusive → 257 bytes
  else forgeCrc(flash, 0, 0x100, 0x45ab3e47); // BK7231S 1.0.5
  const tlv = chip === "bk7231n" ? 0x1d0000 : 0x1e0000;
  const macBytes = mac.split(":").map((h) => parseInt(h, 16));
  flash.data.set([0x02, 0x11, 0x11, 0x11, 0x06, 0, 0, 0, ...macBytes], tlv + 0x1c);
  return flash.data;
}
