/**
 * The UART side Belling's read-all chips (BL0942, BL0940) share, device side: a two-byte read-all request
 * (`<read> AA`) answered with the chip's packet, and six-byte register writes (`<write> reg d0 d1 d2 cs`,
 * cs = ~(sum of the first five)) counted when their checksum is right. Each chip builds its own packet.
 */
import type { Pty } from "../serial/mod.ts";
import { type GainError, PERFECT, type PhysicalMeter } from "./physics.ts";
import { PtyDevice } from "./pty_device.ts";

export abstract class BellingReadAllSim extends PtyDevice {
  #rx: number[] = [];
  /** CF_CNT counts at the start, so a test can start right below the 24-bit wrap */
  cfStart: number;
  /** register writes with a good checksum */
  writes = 0;

  constructor(
    readonly meter: PhysicalMeter,
    public gain: GainError = PERFECT,
    opts: { pty?: Pty; cfStart?: number },
    readonly command: { read: number; write: number },
  ) {
    super(opts.pty);
    this.cfStart = opts.cfStart ?? 0;
  }

  /** The chip's answer to a read-all request, from the physical model now. */
  abstract packet(): Uint8Array;

  protected async onBytes(bytes: Uint8Array) {
    this.#rx.push(...bytes);
    while (this.#rx.length >= 2) {
      if (this.#rx[0] === this.command.read && this.#rx[1] === 0xaa) {
        this.#rx.splice(0, 2);
        await this.reply(this.packet());
      } else if (this.#rx[0] === this.command.write) {
        if (this.#rx.length < 6) return;
        const w = this.#rx.splice(0, 6);
        if ((~(w[0] + w[1] + w[2] + w[3] + w[4]) & 0xff) === w[5]) this.writes++;
      } else {
        this.#rx.shift();
      }
    }
  }
}
