/**
 * The device end of a simulated UART on a pty master: knows the device's own
 * baud, garbles traffic when the host is set to a different rate (as a real
 * line would), and can pace bytes at the real line rate (10 bits per byte).
 */
import type { Pty } from "../serial/mod.ts";

export class SimLine {
  baud = 115200;
  pacing: boolean;
  #txFreeAt = 0;
  #rxFreeAt = 0;
  /** Bytes delivered to / received from the host (for tests and stats). */
  txBytes = 0;
  rxBytes = 0;

  /** Fault: the adapter cannot do rates above this; faster traffic is noise. */
  maxBaud?: number;

  constructor(readonly pty: Pty, opts: { pacing?: boolean; maxBaud?: number } = {}) {
    this.pacing = opts.pacing ?? false;
    this.maxBaud = opts.maxBaud;
    if (this.pacing) measureOvershoot().then((o) => (overshoot ??= o));
  }

  /** Host and device disagree on the rate: every byte turns into noise. */
  mismatched(): boolean {
    try {
      const host = this.pty.hostBaud();
      return host !== this.baud || (this.maxBaud !== undefined && host > this.maxBaud);
    } catch {
      return true;
    }
  }

  byteMs(n: number) {
    return (n * 10 * 1000) / this.baud;
  }

  /** Read what the host sent; with pacing, resolves no earlier than the bytes could have arrived. */
  async receive(timeoutMs: number): Promise<Uint8Array> {
    const got = await this.pty.masterPort.readSome(timeoutMs);
    if (got.length === 0) return got;
    this.rxBytes += got.length;
    if (this.mismatched()) return garble(got);
    if (this.pacing) {
      const now = performance.now();
      this.#rxFreeAt = Math.max(now, this.#rxFreeAt) + this.byteMs(got.length);
    }
    return got;
  }

  /** Wait until everything received so far has fully arrived at the line rate. */
  async rxSettled() {
    if (!this.pacing) return;
    await sleepUntil(this.#rxFreeAt);
  }

  /** Send bytes at the device's rate (garbled if the host is elsewhere). */
  async send(bytes: Uint8Array) {
    const out = this.mismatched() ? garble(bytes) : bytes;
    this.txBytes += out.length;
    if (!this.pacing) {
      await this.pty.masterPort.write(out);
      return;
    }
    const start = Math.max(performance.now(), this.#txFreeAt);
    this.#txFreeAt = start + this.byteMs(out.length);
    // deliver in slices, each when its last byte would have left the chip
    const slice = Math.max(64, Math.floor(this.baud / 10 / 200)); // ~5 ms of line time
    for (let off = 0; off < out.length; off += slice) {
      const end = Math.min(out.length, off + slice);
      await sleepUntil(start + this.byteMs(end));
      await this.pty.masterPort.write(out.subarray(off, end));
    }
  }
}

/** A byte sent at one rate and sampled at another: not the same byte. */
function garble(b: Uint8Array): Uint8Array {
  return b.map((x, i) => (x ^ 0x9e ^ (i & 0x0f)) | 0x80);
}

/**
 * Sleep until a point on the line clock. Timers fire late by a fairly steady
 * amount; that lateness is the simulator's, not the line's, so it is measured
 * once and taken off. Waits shorter than a timer tick are not slept at all.
 */
async function sleepUntil(t: number) {
  overshoot ??= await measureOvershoot();
  const d = t - performance.now() - overshoot;
  if (d >= 1) await new Promise((r) => setTimeout(r, Math.floor(d)));
}

let overshoot: number | undefined;
async function measureOvershoot(): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 2));
    samples.push(performance.now() - t0 - 2);
  }
  samples.sort((a, b) => a - b);
  return Math.max(0, Math.min(2, samples[5]));
}
