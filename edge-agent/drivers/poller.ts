/**
 * The poller contract every metering driver implements (simulated bench,
 * TuyaMCU, RN8209C, BL0942, ...): one poller per serial port (or per simulated
 * bench), pushing readings as the meter produces them. Errors are events the
 * agent logs and forwards, never exceptions that stop the agent.
 */
import type { Reading } from "../../shared/telemetry.ts";

export interface PollerEvent {
  level: "info" | "warn" | "error";
  /** stable machine-readable cause, e.g. "checksum", "silent", "mcu_reset" */
  code: string;
  message: string;
  deviceId?: string;
  port?: string;
}

export interface PollerSink {
  reading(r: Reading): void;
  event(e: PollerEvent): void;
}

export interface Poller {
  readonly name: string;
  start(sink: PollerSink): void | Promise<void>;
  stop(): void | Promise<void>;
}
