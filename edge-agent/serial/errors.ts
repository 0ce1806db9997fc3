import { E, errnoName } from "./libc.ts";

/**
 * Serial-line failures with a stable `code` so callers (the flasher, drivers)
 * can tell a timeout (retry) from a vanished adapter (stop, tell the user).
 */
export type SerialErrorCode =
  | "NOT_FOUND" // no such device path
  | "PERMISSION" // EACCES: user not in the dialout group
  | "BUSY" // another program holds the port
  | "GONE" // EIO/ENXIO/HUP: adapter unplugged or pty closed
  | "TIMEOUT" // read/write did not complete in time
  | "NO_MODEM_LINES" // DTR/RTS not supported (pty, some adapters)
  | "BAUD" // the driver refused the baud rate
  | "CLOSED" // used after close()
  | "IO"; // anything else, errno in the message

export class SerialError extends Error {
  constructor(
    readonly code: SerialErrorCode,
    message: string,
    /** Bytes that did arrive before a TIMEOUT. */
    readonly partial?: Uint8Array,
  ) {
    super(message);
    this.name = "SerialError";
  }
}

/** Map an errno from open/read/write/ioctl to a SerialError. */
export function ioError(what: string, e: number, path: string): SerialError {
  const name = errnoName(e);
  if (e === E.EIO || e === E.ENXIO || e === E.ENODEV || e === E.EBADF) {
    return new SerialError("GONE", `${path}: ${what} failed with ${name} (adapter unplugged?)`);
  }
  if (e === E.ENOENT) return new SerialError("NOT_FOUND", `${path}: no such device`);
  if (e === E.EACCES) {
    return new SerialError("PERMISSION", `${path}: permission denied (add the user to the dialout group)`);
  }
  if (e === E.EBUSY) return new SerialError("BUSY", `${path}: port busy (another program has it open?)`);
  return new SerialError("IO", `${path}: ${what} failed with ${name}`);
}
