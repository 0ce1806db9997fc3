/**
 * One device, two names: inventory's unit id (`u-c8478c100001`, from the MAC) and the id its
 * readings and energy are stored under (the OpenBeken topic, `obk8C100001`). They are tied by
 * the unit record's topic, or by the MAC the unit reports on `<topic>/mac` (server/openbeken/presence.ts
 * MAC index), so the unit, live meter and energy pages can link to each other.
 */
import { findUnitByMac, findUnitByTopic, getUnit, type Unit } from "./units.ts";
import { getUnitPresence, presenceOfUnit, type UnitPresence } from "../openbeken/presence.ts";

export interface DeviceIdentity {
  unit: Unit | null;
  presence: UnitPresence | null;
  /** the meter/energy id (OpenBeken topic), when known */
  meterId: string | null;
}

/** From a unit id (inventory). */
export async function identityOfUnit(kv: Deno.Kv, unitId: string): Promise<DeviceIdentity> {
  const unit = await getUnit(kv, unitId);
  if (!unit) return { unit: null, presence: null, meterId: null };
  const presence = await presenceOfUnit(kv, unit);
  return { unit, presence, meterId: presence?.deviceId ?? unit.topic };
}

/** From a meter id (the live dashboard's and energy's id). */
export async function identityOfMeter(kv: Deno.Kv, meterId: string): Promise<DeviceIdentity> {
  const presence = await getUnitPresence(kv, meterId);
  const unit = (await findUnitByTopic(kv, meterId)) ??
    (presence?.mac && presence.mac.length === 17 ? await findUnitByMac(kv, presence.mac) : null);
  return { unit, presence, meterId };
}
