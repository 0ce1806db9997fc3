/** Inventory, firmware and OTA extensions in start order: one line in server/extensions.ts. */
import type { Extension } from "../context.ts";
import { type OtaOptions, otaRollouts } from "../ota/extension.ts";
import { firmwareApi } from "./firmware.ts";
import { rolloutsApi } from "./rollouts.ts";
import { unitsApi } from "./units.ts";
import { unitWebPasswordApi } from "./unit_web_password.ts";

export function inventoryExtensions(ota: OtaOptions = {}): Extension[] {
  return [unitsApi(), unitWebPasswordApi(), firmwareApi(), rolloutsApi(), otaRollouts(ota)];
}
