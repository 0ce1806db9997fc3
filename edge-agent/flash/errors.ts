/**
 * Flashing failures a person can act on: a stable `code`, a message, the
 * guidance to show on the bench, and whether the job can be resumed as is.
 */
export type FlashErrorCode =
  | "NO_BUS" // never got a link-check reply ("Cannot get bus")
  | "UNKNOWN_CHIP"
  | "CHIP_MISMATCH" // --chip says one thing, the bootloader another
  | "BAUD" // no transfer rate worked
  | "LINK_LOST" // chip stopped answering mid-job (power, wiring, stall)
  | "VERIFY_FAILED" // chip CRC kept disagreeing after retries
  | "PROTECTED" // could not clear flash write protection
  | "REFUSED" // the flasher refused an unsafe operation (BK7231T bootloader area)
  | "GONE" // the adapter vanished
  | "BAD_IMAGE"
  | "BAD_JOURNAL";

export class FlashError extends Error {
  constructor(
    readonly code: FlashErrorCode,
    message: string,
    readonly guidance: string[] = [],
    readonly resumable = false,
  ) {
    super(message);
    this.name = "FlashError";
  }
}

export const BUS_GUIDANCE = [
  "Reset timing: the chip listens only for a few hundred ms after reset — short CEN to GND (or power-cycle the module) WHILE this tool says it is getting the bus.",
  "TX/RX swapped: adapter TX goes to the module's RX1 (P10), adapter RX to TX1 (P11).",
  "UART1 vs UART2: flashing uses TX1/RX1 (P11/P10); TX2 only carries the boot log.",
  "Weak 3.3 V: the adapter's own 3.3 V pin is usually not enough; use an AMS1117-class regulator or a bench supply, common ground.",
  "Another chip on UART1: a metering chip (RN8209C on the ZMAi-90) or a TuyaMCU shares the flashing lines and blocks them — power only the Wi-Fi module, or lift/desolder the other chip (RN8209C RST_N is tied to RX on the ZMAi-90, so holding it in reset does not help).",
  "RTS wired to CEN: some adapters assert RTS on open and hold the chip in reset; this tool releases it, but check the wiring if in doubt.",
];
