/**
 * The list of server features, in start order. A new capability is a new
 * extension module added here — not a branch in the wiring.
 */
import type { Extension } from "./context.ts";
import { telemetryIngest } from "./ingest/telemetry.ts";
import { metersApi } from "./api/meters.ts";
import { healthApi } from "./api/health.ts";
import { openbekenIngest } from "./ingest/openbeken.ts";
import { energy } from "./energy/extension.ts";
import { historyCompactor } from "./history/extension.ts";
import { inventoryExtensions } from "./api/inventory.ts";
import { calibrationApi } from "./api/calibration.ts";
import { flashApi } from "./api/flash.ts";
import { flashJobs } from "./flash/jobs.ts";
import { backupsApi } from "./api/backups.ts";
import { stockConfigJob } from "./stock-config/extension.ts";

export function defaultExtensions(): Extension[] {
  return [
    healthApi(),
    metersApi(),
    energy(), // before the ingests: stopped after them, so what they drain at shutdown is still accounted
    historyCompactor(),
    telemetryIngest(),
    openbekenIngest(),
    ...inventoryExtensions(),
    calibrationApi(),
    flashApi(),
    flashJobs(),
    backupsApi(),
    stockConfigJob(),
  ];
}
