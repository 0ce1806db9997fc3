/** Inventory, firmware and OTA extensions in start order: one line in server/extensions.ts. */
import type { Extension } from "../context.ts";
import { type OtaOptions, otaRollouts } from "../ota/extension.ts";
import { firmwareApi } from "./firmware.ts";
import { rolloutsApi } from "./rollouts.ts";
import { unitsApi } from "./units.ts";

export function inventoryExtensions(ota: OtaOptions = {}): Extension[] {
  return [unitsApi(), firmwareApi(), rolloutsApi(), otaRollouts(ota)];
}
