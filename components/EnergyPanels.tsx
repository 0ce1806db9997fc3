/** The charts and CSV links shared by the per-unit and per-site energy pages. */
import EnergyChart from "../islands/EnergyChart.tsx";
import { dayStart, monthStart, shiftDays, shiftMonths, type Zone } from "../shared/zone.ts";

const DAY = 86_400_000;

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

export interface EnergyPanelsProps {
  scope: "unit" | "site" | "fleet";
  id: string;
  ranges: EnergyRanges;
}

export function EnergyPanels({ scope, id, ranges }: EnergyPanelsProps) {
  const q = `scope=${scope}&id=${encodeURIComponent(id)}`;
  const { now, dayStart, days31Start: days31, yearStart: year } = ranges;
  const csv = (level: string, from: number, to: number) =>
    `/api/energy/export.csv?${q}&level=${level}&from=${from}&to=${to}`;
  return (
    <>
      <h2>Power today (average per minute)</h2>
      <EnergyChart kind="power" label="Power (W)" src={`/api/energy/power?${q}&from=${dayStart}&to=${now}`} />
      <h2>Energy per day, last 31 days</h2>
      <EnergyChart
        kind="energy"
        label="kWh per day"
        src={`/api/energy/series?${q}&level=day&from=${days31}&to=${now}`}
      />
      <h2>Energy per month, last 12 months</h2>
      <EnergyChart
        kind="energy"
        label="kWh per month"
        src={`/api/energy/series?${q}&level=month&from=${year}&to=${now}`}
      />
      <p>
        CSV: <a href={csv("hour", days31, now)}>hourly, 31 days</a> ·{" "}
        <a href={csv("day", year, now)}>daily, 12 months</a> ·{" "}
        <a href={csv("month", year - 4 * 366 * DAY, now)}>monthly, 5 years</a>
        {scope === "unit"
          ? (
            <>
              · <a href={csv("raw", now - DAY, now)}>raw readings, 24 h</a>
            </>
          )
          : null}
        <span class="muted">
          — days and months in {ranges.zoneName}; any range:{" "}
          <code>
            /api/energy/export.csv?{q}&level=minute|hour|day|month{scope === "unit" ? "|raw" : ""}&from=…&to=…
          </code>
        </span>
      </p>
    </>
  );
}

export const kwh = (wh: number) => (wh / 1000).toFixed(3);
