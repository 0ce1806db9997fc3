/**
 * A byte stream over one tty file descriptor (a real serial adapter, a pty
 * slave, or a pty master for simulators). Non-blocking fd + poll() on the
 * blocking thread pool; an eventfd wakes a pending poll so close() is prompt
 * and leaves no pending op behind.
 */
import { E, errno, errnoName, IOCTL, libc, POLL, TIOCM } from "./libc.ts";
import { ioError, SerialError } from "./errors.ts";
import { applyLineSettings, type LineSettings } from "./termios.ts";

const READ_CHUNK = 65536;

export interface SerialPort {
  readonly path: string;
  /** Whatever arrives within `timeoutMs` (at least one byte), or an empty array on timeout. */
  readSome(timeoutMs: number): Promise<Uint8Array>;
  /** Exactly `n` bytes, or SerialError TIMEOUT (with the bytes that did arrive in `partial`). */
  read(n: number, timeoutMs: number): Promise<Uint8Array>;
  /** Put bytes back in front of the input (a frame scanner that read too far). */
  unread(bytes: Uint8Array): void;
  /** Write every byte (waits for room in the kernel buffer), TIMEOUT after `timeoutMs`. */
  write(bytes: Uint8Array, timeoutMs?: number): Promise<void>;
  /** Wait until the kernel has sent everything written so far (tcdrain). */
  drain(): Promise<void>;
  /** Discard unread input (and unsent output) in the kernel and in this object. */
  flush(): void;
  /** Change the line speed of the open port (any rate; non-standard ones via BOTHER). */
  setBaud(baud: number): void;
  readonly baud: number;
  /** Drive DTR / RTS (true = asserted = line low). NO_MODEM_LINES on a pty. */
  setDtr(on: boolean): void;
  setRts(on: boolean): void;
  close(): Promise<void>;
  readonly closed: boolean;
}

export class FdPort implements SerialPort {
  #fd: number;
  #wake: number;
  #pending = new Uint8Array(0);
  /** Polls in flight (a read and a write may wait at the same time); close() waits for them. */
  #polling = new Set<Promise<unknown>>();
  #closed = false;
  #settings: LineSettings;
  #readBuf = new Uint8Array(READ_CHUNK);

  constructor(
    fd: number,
    readonly path: string,
    settings: LineSettings,
    opts: { configure?: boolean } = {},
  ) {
    this.#fd = fd;
    this.#settings = { ...settings };
    const w = libc().eventfd(0, 0o4000 | 0o2000000); // EFD_NONBLOCK | EFD_CLOEXEC
    if (w < 0) throw ioError("eventfd", errno(), path);
    this.#wake = w;
    if (opts.configure !== false) applyLineSettings(fd, this.#settings, path);
  }

  get baud() {
    return this.#settings.baud;
  }
  get closed() {
    return this.#closed;
  }
  /** The raw fd, for tests that need to poke at the tty. */
  get fd() {
    return this.#fd;
  }

  setBaud(baud: number) {
    this.#check();
    applyLineSettings(this.#fd, { ...this.#settings, baud }, this.path);
    this.#settings.baud = baud;
  }

  setDtr(on: boolean) {
    this.#modem(TIOCM.DTR, on);
  }
  setRts(on: boolean) {
    this.#modem(TIOCM.RTS, on);
  }
  #modem(bit: number, on: boolean) {
    this.#check();
    const arg = new Int32Array([bit]);
    const r = libc().ioctl_ptr(this.#fd, on ? IOCTL.TIOCMBIS : IOCTL.TIOCMBIC, new Uint8Array(arg.buffer));
    if (r < 0) {
      const e = errno();
      if (e === E.ENOTTY || e === E.EINVAL) {
        throw new SerialError("NO_MODEM_LINES", `${this.path}: no DTR/RTS control (${errnoName(e)})`);
      }
      throw ioError("ioctl(TIOCM)", e, this.path);
    }
  }

  flush() {
    this.#check();
    this.#pending = new Uint8Array(0);
    libc().ioctl_int(this.#fd, IOCTL.TCFLSH, 2n); // TCIOFLUSH
    // drain whatever the line discipline had already handed us
    while (this.#tryRead()) this.#pending = new Uint8Array(0);
  }

  async drain() {
    this.#check();
    await libc().ioctl_int_nb(this.#fd, IOCTL.TCSBRK, 1n); // tcdrain
  }

  async readSome(timeoutMs: number): Promise<Uint8Array> {
    this.#check();
    if (this.#pending.length === 0) {
      if (!this.#tryRead()) {
        const deadline = Date.now() + timeoutMs;
        while (!this.#closed) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          const ready = await this.#poll(POLL.IN, left);
          if (ready && this.#tryRead()) break;
        }
      }
    }
    const out = this.#pending;
    this.#pending = new Uint8Array(0);
    return out;
  }

  async read(n: number, timeoutMs: number): Promise<Uint8Array> {
    this.#check();
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.length < n) {
      if (this.#tryRead()) continue;
      const left = deadline - Date.now();
      if (left <= 0 || this.#closed) {
        const partial = this.#pending;
        this.#pending = new Uint8Array(0);
        throw new SerialError(
          this.#closed ? "CLOSED" : "TIMEOUT",
          `${this.path}: read ${partial.length}/${n} bytes in ${timeoutMs} ms`,
          partial,
        );
      }
      await this.#poll(POLL.IN, left);
    }
    const out = this.#pending.slice(0, n);
    this.#pending = this.#pending.slice(n);
    return out;
  }

  /** Put bytes back in front of the input (a scanner that read too far). */
  unread(bytes: Uint8Array) {
    if (bytes.length === 0) return;
    const merged = new Uint8Array(bytes.length + this.#pending.length);
    merged.set(bytes);
    merged.set(this.#pending, bytes.length);
    this.#pending = merged;
  }

  async write(bytes: Uint8Array, timeoutMs = 10_000): Promise<void> {
    this.#check();
    const deadline = Date.now() + timeoutMs;
    let off = 0;
    while (off < bytes.length) {
      const chunk = bytes.subarray(off);
      const n = Number(libc().write(this.#fd, chunk, BigInt(chunk.length)));
      if (n > 0) {
        off += n;
        continue;
      }
      const e = errno();
      if (n < 0 && e !== E.EAGAIN && e !== E.EINTR) throw ioError("write", e, this.path);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new SerialError("TIMEOUT", `${this.path}: wrote ${off}/${bytes.length} bytes in ${timeoutMs} ms`);
      }
      await this.#poll(POLL.OUT, left);
      this.#check();
    }
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    libc().write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
    await Promise.allSettled([...this.#polling]);
    libc().close(this.#fd);
    libc().close(this.#wake);
  }

  /** Read what the kernel has into #pending; false if nothing was there. Throws GONE on EIO. */
  #tryRead(): boolean {
    const n = Number(libc().read(this.#fd, this.#readBuf, BigInt(this.#readBuf.length)));
    if (n > 0) {
      const merged = new Uint8Array(this.#pending.length + n);
      merged.set(this.#pending);
      merged.set(this.#readBuf.subarray(0, n), this.#pending.length);
      this.#pending = merged;
      return true;
    }
    if (n === 0) throw new SerialError("GONE", `${this.path}: end of file (device gone)`);
    const e = errno();
    if (e === E.EAGAIN || e === E.EINTR) return false;
    throw ioError("read", e, this.path);
  }

  /** poll(fd, events) with the wake eventfd; true if fd is ready. Throws GONE on HUP/ERR. */
  async #poll(events: number, timeoutMs: number): Promise<boolean> {
    const b = new Uint8Array(16); // per call: a concurrent read and write each need their own pollfds
    const v = new DataView(b.buffer);
    v.setInt32(0, this.#fd, true);
    v.setInt16(4, events, true);
    v.setInt16(6, 0, true);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, POLL.IN, true);
    v.setInt16(14, 0, true);
    const p = libc().poll(b, 2n, Math.max(0, Math.min(2 ** 31 - 1, Math.ceil(timeoutMs))));
    this.#polling.add(p);
    const r = await p.finally(() => this.#polling.delete(p));
    if (this.#closed) return false;
    if (r <= 0) return false;
    const rev = v.getInt16(6, true);
    if (rev & POLL.NVAL) throw new SerialError("GONE", `${this.path}: file descriptor no longer valid`);
    if (rev & events) return true;
    if (rev & (POLL.HUP | POLL.ERR)) {
      // data may still be buffered behind a hangup: let the caller's read see it first
      if (events & POLL.IN && this.#tryRead()) return true;
      throw new SerialError("GONE", `${this.path}: hangup (adapter unplugged or other end closed)`);
    }
    return false;
  }

  #check() {
    if (this.#closed) throw new SerialError("CLOSED", `${this.path}: port is closed`);
  }
}
