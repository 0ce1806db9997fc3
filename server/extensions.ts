/**
 * The list of server features, in start order. A new capability is a new
 * extension module added here — not a branch in the wiring.
 */
import type { Extension } from "./context.ts";
import { telemetryIngest } from "./meters/ingest.ts";
import { metersApi } from "./meters/api.ts";
import { healthApi } from "./health/api.ts";
import { openbekenIngest } from "./openbeken/ingest.ts";
import { energy } from "./energy/extension.ts";
import { historyCompactor } from "./history/extension.ts";
import { inventoryExtensions } from "./inventory/extensions.ts";
import { calibrationApi } from "./calibration/api.ts";
import { flashApi } from "./flash/api.ts";
import { flashJobs } from "./flash/jobs.ts";
import { backupsApi } from "./flash/backups_api.ts";
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
