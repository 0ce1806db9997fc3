/** Inventory, firmware and OTA extensions in start order: one line in server/extensions.ts. */
import type { Extension } from "../context.ts";
import { type OtaOptions, otaRollouts } from "../ota/extension.ts";
import { firmwareApi } from "../firmware/api.ts";
import { rolloutsApi } from "../ota/api.ts";
import { unitsApi } from "./api.ts";
import { unitWebPasswordApi } from "./web_password_api.ts";

export function inventoryExtensions(ota: OtaOptions = {}): Extension[] {
  return [unitsApi(), unitWebPasswordApi(), firmwareApi(), rolloutsApi(), otaRollouts(ota)];
}
