/** The day and month every energy page reads its "today" and "this month" from (server clock, FLEET_TZ). */
import { dayStart, monthStart, shiftDays, shiftMonths, type Zone } from "../shared/zone.ts";

/** The ranges every energy page shows, in the installation's local days and months (a DST day is 23 or 25 h). */
export interface EnergyRanges {
  /** server clock, so every panel shows the same "now" */
  now: number;
  dayStart: number;
  monthStart: number;
  /** today and the 30 local days before it */
  days31Start: number;
  /** this month and the 11 before it */
  yearStart: number;
  zoneName: string;
}

export function energyRanges(zone: Zone, now: number): EnergyRanges {
  return {
    now,
    dayStart: dayStart(zone, now),
    monthStart: monthStart(zone, now),
    days31Start: shiftDays(zone, now, -30),
    yearStart: shiftMonths(zone, now, -11),
    zoneName: zone.name,
  };
}

export const kwh = (wh: number) => (wh / 1000).toFixed(3);
