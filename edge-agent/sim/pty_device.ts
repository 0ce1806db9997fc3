/**
 * Common loop for a simulated device on a pty master: read what the host
 * sends, let the device answer, apply injected faults, stop cleanly.
 */
import { openPty, type Pty } from "../serial/mod.ts";
import { type Faults, noFaults } from "./physics.ts";

export abstract class PtyDevice {
  readonly pty: Pty;
  faults: Faults = noFaults();
  #running: Promise<void> | null = null;
  #stopped = false;
  /** frames/packets sent, for tests that want to know the device spoke */
  sent = 0;

  constructor(pty?: Pty) {
    this.pty = pty ?? openPty();
  }

  get path(): string {
    return this.pty.slavePath;
  }

  /** The device's reaction to bytes from the host. */
  protected abstract onBytes(bytes: Uint8Array): Promise<void> | void;
  /** Called every ~20 ms for devices that talk unprompted. */
  protected tick(): Promise<void> | void {}

  start(): this {
    this.#running = this.#loop();
    return this;
  }

  async #loop() {
    while (!this.#stopped) {
      let got: Uint8Array;
      try {
        got = await this.pty.masterPort.readSome(20);
      } catch {
        if (this.#stopped) return;
        continue;
      }
      if (this.#stopped) return;
      if (got.length) await this.onBytes(got);
      await this.tick();
    }
  }

  /** Send a reply, corrupted or noisy if a fault asks for it. */
  protected async reply(bytes: Uint8Array) {
    if (this.faults.silent) return;
    let out = bytes;
    if (this.faults.badChecksums > 0) {
      this.faults.badChecksums--;
      out = bytes.slice();
      out[out.length - 1] ^= 0x5a;
    }
    if (this.faults.noisyReplies > 0) {
      this.faults.noisyReplies--;
      const noise = crypto.getRandomValues(new Uint8Array(5)).map((b) => (b === 0x55 ? 0x00 : b));
      out = Uint8Array.from([...noise, ...out]);
    }
    this.sent++;
    await this.pty.masterPort.write(out, 1000).catch(() => {});
  }

  async stop() {
    this.#stopped = true;
    await this.#running;
    await this.pty.close();
  }
}

/** `deno task sim <name>` glue: print the pty path, serve until SIGINT/SIGTERM. */
export async function serveUntilSignal(dev: PtyDevice, describe: string) {
  dev.start();
  console.log(`pty: ${dev.path}`);
  console.error(describe);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    Deno.addSignalListener("SIGINT", done);
    Deno.addSignalListener("SIGTERM", done);
  });
  await dev.stop();
}
