/**
 * The period view every energy page shares: day / week / month / year with
 * previous / next and a date picker, stacked bars per meter, the same numbers
 * as a table, and the CSV of exactly that table. Times are in FLEET_TZ.
 */
import EnergyBars from "../islands/EnergyBars.tsx";
import EnergyChart from "../islands/EnergyChart.tsx";
import type { EnergyBreakdown, Period, PeriodKind } from "../server/energy/period.ts";
import { PERIODS } from "../server/energy/period.ts";
import { Card, EmptyState, Num, TableWrap } from "./ui.tsx";

const BUCKET_NAME: Record<PeriodKind, string> = { day: "hour", week: "day", month: "day", year: "month" };

/** `?period=…&date=…` for a page at `path`. */
export function periodHref(path: string, kind: PeriodKind, date: string): string {
  return `${path}?period=${kind}&date=${date}`;
}

export function PeriodNav({ path, period, zoneName }: { path: string; period: Period; zoneName: string }) {
  return (
    <nav class="period-nav" aria-label="Period" data-testid="period-nav">
      <span class="levels">
        {PERIODS.map((k) => (
          <a
            key={k}
            href={periodHref(path, k, period.current ? period.today : period.date)}
            aria-current={k === period.kind ? "page" : undefined}
          >
            {k[0].toUpperCase() + k.slice(1)}
          </a>
        ))}
      </span>
      <a class="btn" href={periodHref(path, period.kind, period.prevDate)} rel="prev" data-testid="period-prev">
        <span aria-hidden="true">‹</span> Previous
      </a>
      <span class="label" data-testid="period-label">{period.label}</span>
      {period.nextDate
        ? (
          <a class="btn" href={periodHref(path, period.kind, period.nextDate)} rel="next" data-testid="period-next">
            Next <span aria-hidden="true">›</span>
          </a>
        )
        : null}
      {!period.current
        ? <a class="btn ghost" href={periodHref(path, period.kind, period.today)} data-testid="period-today">Today</a>
        : null}
      <form method="get" action={path} class="inline" data-testid="period-pick">
        <input type="hidden" name="period" value={period.kind} />
        <label for="period-date" class="visually-hidden">Go to date</label>
        <input type="date" id="period-date" name="date" value={period.date} max={period.today} required />
        <button type="submit" class="small">Go</button>
      </form>
      <span class="muted small">days and months in {zoneName}</span>
    </nav>
  );
}

export interface EnergyPeriodViewProps {
  /** the page's own path, for links */
  path: string;
  b: EnergyBreakdown;
  /** the fleet zone, for the power chart's axis */
  fixedOffsetMin: number | null;
  /** links of the series' names (a meter's energy page); none for a single meter */
  linkMembers?: boolean;
  /** the server's clock */
  now: number;
}

export function EnergyPeriodView({ path, b, fixedOffsetMin, linkMembers, now: at }: EnergyPeriodViewProps) {
  const p = b.period;
  const q = `scope=${b.scope}&id=${encodeURIComponent(b.id)}`;
  const csv = `/api/energy/export.csv?${q}&period=${p.kind}&date=${p.date}`;
  const bucket = BUCKET_NAME[p.kind];
  const now = Math.min(p.to, at);
  return (
    <>
      <PeriodNav path={path} period={p} zoneName={b.zoneName} />
      <Card title={`Energy per ${bucket} · ${p.label}`} testid="energy-period">
        {b.buckets.length
          ? (
            <>
              {b.trimmedStart
                ? (
                  <p class="muted small" data-testid="trimmed">
                    Shown from the first recorded {bucket} ({b.firstLabel}); nothing was measured before.
                  </p>
                )
                : null}
              <EnergyBars
                labels={b.labels}
                longLabels={b.longLabels}
                series={b.series}
                totalKwh={b.totalKwh}
                sumKwh={b.sumKwh}
                periodLabel={p.label}
              />
              <TableWrap label={`Energy per ${bucket}, ${p.label}`} testid="energy-table">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{bucket[0].toUpperCase() + bucket.slice(1)} ({b.zoneName})</th>
                      {b.series.length > 1
                        ? b.series.map((s) => (
                          <th key={s.id} scope="col" class="num">
                            {linkMembers && s.id !== "other"
                              ? (
                                <a
                                  href={`/energy/unit/${encodeURIComponent(s.id)}${`?period=${p.kind}&date=${p.date}`}`}
                                >
                                  {s.label}
                                </a>
                              )
                              : s.label}
                          </th>
                        ))
                        : null}
                      <th scope="col" class="num">Total (kWh)</th>
                    </tr>
                  </thead>
                  <tbody>
                    {b.buckets.map((t, i) => (
                      <tr key={t} data-bucket={t}>
                        <th scope="row" class="nowrap">{b.longLabels[i]}</th>
                        {b.series.length > 1
                          ? b.series.map((s) => (
                            <td key={s.id} class="num">
                              <Num value={s.kwh[i]} digits={3} />
                            </td>
                          ))
                          : null}
                        <td class="num" data-field="total">
                          <Num value={b.totalKwh[i]} digits={3} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                  <tfoot>
                    <tr>
                      <th scope="row">Total</th>
                      {b.series.length > 1
                        ? b.series.map((s) => (
                          <td key={s.id} class="num">
                            <Num value={s.totalKwh} digits={3} />
                          </td>
                        ))
                        : null}
                      <td class="num" data-testid="period-total">
                        <Num value={b.sumKwh} digits={3} />
                      </td>
                    </tr>
                  </tfoot>
                </table>
              </TableWrap>
              <p class="small">
                <a class="btn small" href={csv} download data-testid="period-csv">Download this table (CSV)</a>{" "}
                <span class="muted">kWh per {bucket}, times in {b.zoneName}</span>
              </p>
            </>
          )
          : (
            <EmptyState title="No energy recorded in this period" testid="period-empty">
              <p>
                {b.firstDate
                  ? (
                    <>
                      The first recorded day is{" "}
                      <a href={periodHref(path, p.kind, b.firstDate)}>{b.firstDate}</a>; or go to{" "}
                      <a href={periodHref(path, p.kind, p.today)}>today</a>.
                    </>
                  )
                  : (
                    <>
                      Nothing has been measured yet. Meters report once a bench agent or an OpenBeken unit publishes
                      (see the <a href="/">live fleet</a>).
                    </>
                  )}
              </p>
            </EmptyState>
          )}
      </Card>
      {p.kind === "day" && b.buckets.length
        ? (
          <Card title={`Power, average per minute · ${p.label}`} testid="power-period">
            <EnergyChart
              kind="power"
              label="Power (W)"
              src={`/api/energy/power?${q}&from=${p.from}&to=${now}`}
              zoneName={b.zoneName}
              fixedOffsetMin={fixedOffsetMin}
            />
          </Card>
        )
        : null}
    </>
  );
}
