/** Shared fixtures for flash tests: a simulator on a real pty, an open port, quiet fast flasher options. */
import { openSerial, type SerialPort } from "../../edge-agent/serial/mod.ts";
import { Bk7231Sim, type Bk7231SimOptions } from "../../edge-agent/sim/bk7231.ts";
import type { FlasherOptions } from "../../edge-agent/flash/flasher.ts";
import { createLogger } from "../../shared/log.ts";

export const quiet = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") as "debug") ?? "error" });

/** Short timeouts: the simulator answers in microseconds, and fault tests must not crawl. */
export function fastOptions(o: Partial<FlasherOptions> = {}): FlasherOptions {
  // replies come in well under 150 ms on a calm machine; the margin is for a CI host whose event loop lags under load
  return { baud: 2_000_000, linkTimeoutMs: 3000, commandTimeoutMs: 400, stallPatienceMs: 2000, log: quiet, ...o };
}

export async function withSim<T>(
  opts: Bk7231SimOptions,
  fn: (sim: Bk7231Sim, port: SerialPort) => Promise<T>,
): Promise<T> {
  // a generous reset window: on a loaded CI machine the event loop can lag a few hundred ms
  const sim = Bk7231Sim.start({ log: quiet, ...opts, timing: { resetWindowMs: 1500, ...opts.timing } });
  const port = await openSerial(sim.path, { baud: 115200 });
  try {
    return await fn(sim, port);
  } finally {
    await port.close();
    await sim.stop();
  }
}

/** A deterministic stand-in for an OpenBeken app image of the usual size. */
export function fakeObkImage(len = 1_150_832, seed = 99): Uint8Array {
  let x = seed;
  return new Uint8Array(len).map(() => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
}

export const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
