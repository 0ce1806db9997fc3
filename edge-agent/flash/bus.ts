/**
 * Getting the bus: make the chip enter download mode by answering a link
 * check inside its short post-reset window (§1.3 of the bootloader notes).
 * Stages: already linked? → `reboot\r\n` for a running OpenBeken → RTS/DTR
 * reset pulse → ask a person to reset it, until the link timeout. On failure
 * the error says what the line looked like, which narrows the wiring fault.
 */
import { expect, parse, REBOOT_TEXT, req, scanResponse } from "../../shared/bk7231/mod.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { SerialError, type SerialPort } from "../serial/mod.ts";
import { BUS_GUIDANCE, FlashError } from "./errors.ts";
import { mapSerial } from "./link.ts";
import { concatBytes } from "../../shared/bytes.ts";

export interface BusOptions {
  clock: Clock;
  log: Logger;
  /** Total time to keep trying (BKT 10 s, ltchiptool 20 s). */
  linkTimeoutMs?: number;
  /** Reply window per link check (tools use 1–5 ms). */
  attemptMs?: number;
  /** Called once when only a manual reset can help; the CLI prints it, tests reset the simulator. */
  onNeedReset?: (message: string) => void;
  /**
   * Rates a chip may have been left at by an interrupted job (still in download
   * mode, but no longer at 115200). Tried briefly before resetting anything.
   */
  probeBauds?: number[];
}

const LINK = req.linkCheck();

export async function getBus(port: SerialPort, o: BusOptions): Promise<void> {
  const total = o.linkTimeoutMs ?? 20_000;
  const attemptMs = o.attemptMs ?? 5;
  const start = o.clock.now();
  const seen: Uint8Array[] = [];
  let seenLen = 0;
  let attempts = 0;

  const tryFor = async (ms: number, rebootEvery = 0): Promise<boolean> => {
    const until = Math.min(o.clock.now() + ms, start + total);
    let buf: Uint8Array = new Uint8Array(0);
    while (o.clock.now() < until) {
      try {
        if (rebootEvery && attempts % rebootEvery === 0) await port.write(REBOOT_TEXT);
        attempts++;
        await port.write(LINK);
        const got = await port.readSome(attemptMs);
        if (got.length === 0) continue;
        if (seenLen < 4096) {
          seen.push(got);
          seenLen += got.length;
        }
        buf = concatBytes(buf, got);
        const r = scanResponse(buf, expect.linkCheck);
        if (r.found) {
          parse.linkCheck(r.frame);
          return true;
        }
        buf = r.keep;
      } catch (e) {
        throw mapSerial(e);
      }
    }
    return false;
  };

  const linked = async () => {
    // more link checks may still be answered: let the line go quiet
    try {
      while ((await port.readSome(20)).length > 0) { /* discard */ }
      port.flush();
    } catch (e) {
      throw mapSerial(e);
    }
    o.log.info("got bus", { attempts, ms: o.clock.now() - start });
  };

  // 0: already in download mode (e.g. resuming after a failed step), maybe at a transfer rate
  if (await tryFor(200)) return linked();
  for (const baud of o.probeBauds ?? []) {
    if (baud === 115200) continue;
    port.setBaud(baud);
    if (await tryFor(80)) return linked();
  }
  if (port.baud !== 115200) port.setBaud(115200);
  // 1: a running OpenBeken reboots on `reboot`; the loader then listens again
  if (await tryFor(1200, 50)) return linked();
  // 2: RTS/DTR reset pulse (BKT hw_reset), when the adapter has the lines and they are wired
  if (await resetPulse(port, o)) {
    if (await tryFor(1000)) return linked();
  }
  // 3: a person resets or power-cycles the unit
  o.onNeedReset?.("Getting the bus: short CEN to GND (or power-cycle the module) now.");
  if (await tryFor(total, 500)) return linked();

  const line = concatBytes(...seen);
  throw new FlashError(
    "NO_BUS",
    `Cannot get bus: no link-check reply after ${attempts} attempts in ${Math.round((o.clock.now() - start) / 1000)} s`,
    [
      ...diagnose(line),
      ...BUS_GUIDANCE,
    ],
    true,
  );
}

async function resetPulse(port: SerialPort, o: BusOptions): Promise<boolean> {
  try {
    port.setRts(true);
    port.setDtr(true);
    await o.clock.sleep(100);
    port.setDtr(false);
    await o.clock.sleep(100);
    port.setRts(false);
    return true;
  } catch (e) {
    if (e instanceof SerialError && e.code === "NO_MODEM_LINES") {
      o.log.debug("no DTR/RTS on this port; skipping reset pulse");
      return false;
    }
    throw mapSerial(e);
  }
}

/** What the bytes we did receive say about the wiring. */
export function diagnose(line: Uint8Array): string[] {
  if (line.length === 0) {
    return [
      "Nothing at all came back on RX: the chip is not powered, not reset in time, RX/TX are swapped, or another chip (RN8209C, TuyaMCU) holds the line.",
    ];
  }
  const text = new TextDecoder().decode(line);
  if (text.includes("\x01\xe0\xfc\x01\x00") || [...line].join(",").includes("1,224,252,1,0")) {
    return ["Our own link checks came back: RX and TX are connected together (loopback/short), or the adapter echoes."];
  }
  for (let i = 0; i + 1 < line.length; i++) {
    if (line[i] === 0x55 && line[i + 1] === 0xaa) {
      return [
        "TuyaMCU frames (55 AA) on the line: the MCU shares UART1 with the Wi-Fi module — isolate or unpower it while flashing.",
      ];
    }
  }
  const printable = [...line].filter((b) => (b >= 0x20 && b < 0x7f) || b === 10 || b === 13).length;
  if (printable / line.length > 0.8) {
    return [
      `Readable text on the line (${
        JSON.stringify(text.slice(0, 40))
      }…): probably the log UART (TX2) or a running firmware, not the loader on UART1.`,
    ];
  }
  return ["Only noise on the line: wrong baud on a running firmware, a metering chip talking, or a loose wire."];
}
