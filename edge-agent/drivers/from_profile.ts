/** One poller per port, chosen by the device profile's transport. */
import type { DeviceProfile } from "../../shared/profiles/types.ts";
import type { Triple } from "../../shared/meterchips/calibration.ts";
import type { Poller } from "./poller.ts";
import { ChipPoller } from "./chip.ts";
import { TuyaMcuPoller, type TuyaTiming } from "./tuyamcu.ts";
import type { SerialPollerOptions } from "./serial_poller.ts";

export function pollerForProfile(
  profile: DeviceProfile,
  o: SerialPollerOptions & { factors?: Triple; timing?: Partial<TuyaTiming> },
): Poller & { readonly readings: number } {
  return profile.transport.kind === "tuyamcu"
    ? new TuyaMcuPoller({ ...o, profile })
    : new ChipPoller({ ...o, profile });
}
