/** What the browser sees of the fleet: shared by the server's API/SSE and the islands. */
import type { Reading } from "./telemetry.ts";

export interface MeterLatest {
  deviceId: string;
  agentId: string;
  reading: Reading;
  /** when the server committed it */
  committedAt: number;
}

export interface FleetSnapshot {
  at: number;
  totalPowerW: number;
  meters: MeterLatest[];
}

/** A meter is stale when nothing was committed for it this long (an agent off, a unit unplugged). */
export const STALE_AFTER_MS = 15_000;
