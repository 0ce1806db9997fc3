/** The charts and CSV links shared by the per-unit and per-site energy pages. */
import EnergyChart from "../islands/EnergyChart.tsx";

const DAY = 86_400_000;

export interface EnergyPanelsProps {
  scope: "unit" | "site" | "fleet";
  id: string;
  /** server clock, so every panel shows the same "now" */
  now: number;
  /** start of today and this month in the installation's day boundaries */
  dayStart: number;
  monthStart: number;
}

export function EnergyPanels({ scope, id, now, dayStart, monthStart }: EnergyPanelsProps) {
  const q = `scope=${scope}&id=${encodeURIComponent(id)}`;
  const days31 = dayStart - 30 * DAY;
  const year = Date.UTC(new Date(monthStart).getUTCFullYear() - 1, new Date(monthStart).getUTCMonth() + 1, 1);
  const csv = (level: string, from: number, to: number) => `/api/energy/export.csv?${q}&level=${level}&from=${from}&to=${to}`;
  return (
    <>
      <h2>Power today (average per minute)</h2>
      <EnergyChart kind="power" label="Power (W)" src={`/api/energy/power?${q}&from=${dayStart}&to=${now}`} />
      <h2>Energy per day, last 31 days</h2>
      <EnergyChart kind="energy" label="kWh per day" src={`/api/energy/series?${q}&level=day&from=${days31}&to=${now}`} />
      <h2>Energy per month, last 12 months</h2>
      <EnergyChart kind="energy" label="kWh per month" src={`/api/energy/series?${q}&level=month&from=${year}&to=${now}`} />
      <p>
        CSV: <a href={csv("hour", days31, now)}>hourly, 31 days</a> · <a href={csv("day", year, now)}>daily, 12 months</a> ·{" "}
        <a href={csv("month", year - 4 * 366 * DAY, now)}>monthly, 5 years</a>
        {scope === "unit" ? <> · <a href={csv("raw", now - DAY, now)}>raw readings, 24 h</a></> : null}
        <span class="muted"> — any range: <code>/api/energy/export.csv?{q}&level=minute|hour|day|month{scope === "unit" ? "|raw" : ""}&from=…&to=…</code></span>
      </p>
    </>
  );
}

export const kwh = (wh: number) => (wh / 1000).toFixed(3);
