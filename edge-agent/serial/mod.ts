/**
 * Serial lines for the edge agent: Linux termios through Deno FFI (npm
 * serialport does not load under Deno), plus real pseudo-terminals for
 * simulators and tests.
 *
 * ```ts
 * import { openSerial, openPty } from "../serial/mod.ts";
 *
 * const port = await openSerial("/dev/ttyUSB0", { baud: 115200 });  // raw 8N1, RTS+DTR released
 * await port.write(new Uint8Array([0x01, 0xe0, 0xfc, 0x01, 0x00]));
 * const some = await port.readSome(50);      // ≥1 byte, or empty on timeout
 * const exact = await port.read(8, 1000);    // exactly 8 bytes or SerialError("TIMEOUT", partial)
 * port.setBaud(921600);                      // any rate up to 4,000,000 (BOTHER)
 * port.setRts(true); port.setDtr(false);     // true = asserted (line low); NO_MODEM_LINES on a pty
 * port.flush();                              // drop unread input
 * await port.close();
 *
 * const pty = openPty();                     // simulator side
 * pty.slavePath;                             // "/dev/pts/7": give this to the code under test
 * pty.masterPort.readSome(100);              // same SerialPort methods as above
 * pty.hostBaud();                            // the baud the other side set (to model mismatches)
 * await pty.close();
 * ```
 *
 * Options: `{ baud, dataBits: 7|8, parity: "none"|"even"|"odd", stopBits: 1|2 }`
 * (e.g. RN8209 wants 4800 8E1). Every failure is a `SerialError` with a stable
 * `code`: NOT_FOUND, PERMISSION, BUSY, GONE (unplugged / other end closed),
 * TIMEOUT, NO_MODEM_LINES, BAUD, CLOSED, IO. Reads never block the event loop:
 * the fd is non-blocking and waits use poll() on Deno's blocking pool.
 */
import { errno, IOCTL, libc, O, TERMIOS2 } from "./libc.ts";
import { ioError, SerialError } from "./errors.ts";
import { FdPort, type SerialPort } from "./port.ts";
import type { LineSettings } from "./termios.ts";

export { SerialError } from "./errors.ts";
export type { SerialErrorCode } from "./errors.ts";
export type { SerialPort } from "./port.ts";
export type { LineSettings } from "./termios.ts";
export { FdPort } from "./port.ts";

export interface OpenOptions extends Partial<LineSettings> {
  /**
   * De-assert RTS and DTR right after open (default true). Many adapters
   * assert RTS on open; wired to CEN that holds the chip in reset.
   */
  releaseControlLines?: boolean;
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

export function openSerial(path: string, opts: OpenOptions = {}): Promise<SerialPort> {
  const fd = libc().open(cstr(path), O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC, 0);
  if (fd < 0) return Promise.reject(ioError("open", errno(), path));
  let port: FdPort;
  try {
    port = new FdPort(fd, path, { baud: opts.baud ?? 115200, ...opts });
  } catch (e) {
    libc().close(fd);
    return Promise.reject(e);
  }
  if (opts.releaseControlLines !== false) {
    for (const set of [(b: boolean) => port.setRts(b), (b: boolean) => port.setDtr(b)]) {
      try {
        set(false);
      } catch (e) {
        if (!(e instanceof SerialError && e.code === "NO_MODEM_LINES")) throw e;
      }
    }
  }
  return Promise.resolve(port);
}

export interface Pty {
  /** The device side: read what the host wrote, write what the device says. */
  readonly masterPort: FdPort;
  /** The path the host (code under test, flasher, driver) opens with openSerial. */
  readonly slavePath: string;
  /** Baud rate the host side last configured (ptys carry it but do not enforce it). */
  hostBaud(): number;
  close(): Promise<void>;
}

export function openPty(): Pty {
  const c = libc();
  const m = c.posix_openpt(O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC);
  if (m < 0) throw ioError("posix_openpt", errno(), "/dev/ptmx");
  const name = new Uint8Array(128);
  if (c.grantpt(m) !== 0 || c.unlockpt(m) !== 0 || c.ptsname_r(m, name, 128n) !== 0) {
    const e = errno();
    c.close(m);
    throw ioError("grantpt/unlockpt", e, "/dev/ptmx");
  }
  const slavePath = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
  // Hold the slave open ourselves: without it the master sees HUP (EIO) whenever
  // no host has the port open, e.g. between a flasher closing and reopening it.
  const keep = c.open(cstr(slavePath), O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC, 0);
  if (keep < 0) {
    const e = errno();
    c.close(m);
    throw ioError("open slave", e, slavePath);
  }
  let keeper: FdPort;
  try {
    // configures the slave raw 8N1; the master shares the slave's termios
    keeper = new FdPort(keep, slavePath, { baud: 115200 });
  } catch (e) {
    c.close(keep);
    c.close(m);
    throw e;
  }
  const masterPort = new FdPort(m, `${slavePath} (master)`, { baud: 115200 }, { configure: false });
  return {
    masterPort,
    slavePath,
    hostBaud() {
      const t = new Uint8Array(TERMIOS2.size);
      if (c.ioctl_ptr(m, IOCTL.TCGETS2, t) < 0) throw new SerialError("GONE", `${slavePath}: pty closed`);
      return new DataView(t.buffer).getUint32(TERMIOS2.ospeed, true);
    },
    async close() {
      await masterPort.close();
      await keeper.close();
    },
  };
}
