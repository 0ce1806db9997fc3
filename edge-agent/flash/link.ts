/**
 * One request/response exchange with the bootloader over a serial port:
 * write the frame, feed what arrives to the resynchronising scanner until the
 * expected reply is complete, hand any extra bytes back to the port.
 */
import { type Expect, type ResponseFrame, scanResponse } from "../../shared/bk7231/mod.ts";
import { SerialError, type SerialPort } from "../serial/mod.ts";
import { FlashError } from "./errors.ts";
import { concatBytes } from "../../shared/bytes.ts";

export class Timeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Timeout";
  }
}

export class BootLink {
  constructor(readonly port: SerialPort) {}

  /** Wire time of n bytes at the current rate (10 bits per byte), in ms. */
  wireMs(n: number) {
    return (n * 10_000) / this.port.baud;
  }

  /** Send `req` and wait for the frame matching `expect`. Throws Timeout or FlashError(GONE). */
  async command(req: Uint8Array, expect: Expect, timeoutMs: number, replyBytes = 16): Promise<ResponseFrame> {
    try {
      await this.port.write(req, timeoutMs + this.wireMs(req.length) * 2);
    } catch (e) {
      throw mapSerial(e);
    }
    return await this.receive(expect, timeoutMs + this.wireMs(req.length + replyBytes));
  }

  async receive(expect: Expect, timeoutMs: number): Promise<ResponseFrame> {
    const deadline = Date.now() + timeoutMs;
    let buf: Uint8Array = new Uint8Array(0);
    while (true) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Timeout(
          `no 0x${expect.code.toString(16)} reply in ${Math.round(timeoutMs)} ms (${buf.length} stray bytes)`,
        );
      }
      let got: Uint8Array;
      try {
        got = await this.port.readSome(left);
      } catch (e) {
        throw mapSerial(e);
      }
      if (got.length === 0) continue;
      buf = buf.length ? concatBytes(buf, got) : got;
      const r = scanResponse(buf, expect);
      if (r.found) {
        this.port.unread(r.rest);
        return r.frame;
      }
      buf = r.keep;
    }
  }

  /** Drop stale input: call before retrying a command so a late reply cannot be mistaken for the new one. */
  async settle(quietMs = 5) {
    try {
      while ((await this.port.readSome(quietMs)).length > 0) { /* discard */ }
      this.port.flush();
    } catch (e) {
      throw mapSerial(e);
    }
  }
}

export function mapSerial(e: unknown): unknown {
  if (e instanceof SerialError && (e.code === "GONE" || e.code === "CLOSED")) {
    return new FlashError("GONE", e.message, ["Check the USB cable and that the adapter is still plugged in."], true);
  }
  if (e instanceof SerialError && e.code === "TIMEOUT") return new Timeout(e.message);
  return e;
}
