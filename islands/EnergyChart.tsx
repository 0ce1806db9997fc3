/**
 * Energy or power chart (uPlot) fed by the energy API: bars of kWh per
 * hour/day/month, or the average power per minute over a day. The range is
 * fixed by the page (server clock), so the chart and the table agree.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";

export interface EnergyChartProps {
  /** API path with its query, e.g. /api/energy/series?scope=unit&id=x&level=day&from=..&to=.. */
  src: string;
  kind: "energy" | "power";
  label: string;
  height?: number;
  /** the fleet's zone (FLEET_TZ): an IANA name, or a fixed offset in minutes; axis times are shown in it */
  zoneName?: string;
  fixedOffsetMin?: number | null;
}

interface Point {
  ts: number;
  wh?: number;
  w?: number;
}

/** uPlot's clock for axis labels: the fleet's zone, not the browser's. */
export function fleetTzDate(zoneName?: string, fixedOffsetMin?: number | null): ((ts: number) => Date) | undefined {
  if (fixedOffsetMin != null) return (ts) => uPlot.tzDate(new Date(ts * 1000 + fixedOffsetMin * 60_000), "Etc/UTC");
  if (zoneName) return (ts) => uPlot.tzDate(new Date(ts * 1000), zoneName);
  return undefined;
}

export default function EnergyChart(
  { src, kind, label, height = 260, zoneName, fixedOffsetMin }: EnergyChartProps,
) {
  const el = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<string>("loading");
  // the legend: the value under the pointer, else the latest, peak and mean (uPlot's own legend reads "--" idle)
  const [summary, setSummary] = useState<{ latest: string; peak: string; mean: string } | null>(null);
  const [hover, setHover] = useState<string | null>(null);

  useEffect(() => {
    let plot: uPlot | null = null;
    let stopped = false;
    (async () => {
      const res = await fetch(src);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const { points } = await res.json() as { points: Point[] };
      if (stopped || !el.current) return;
      const ys = points.map((p) => kind === "energy" ? (p.wh ?? 0) / 1000 : p.w ?? 0);
      setState(points.length ? "ok" : "empty");
      const bars = kind === "energy" && uPlot.paths?.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined;
      // the requested range, not the data's: with one bar uPlot would otherwise pad the axis out to years
      const q = new URL(src, location.href).searchParams;
      const to = Number(q.get("to"));
      // power: from the first sample (a meter installed at 14:00 fills the chart, not its right third)
      const from = kind === "power" && points.length
        ? Math.max(Number(q.get("from")), points[0].ts)
        : Number(q.get("from"));
      const scales: uPlot.Scales = from > 0 && to > from ? { x: { time: true, range: [from / 1000, to / 1000] } } : {};
      const css = getComputedStyle(document.documentElement);
      const v = (name: string, dflt: string) => css.getPropertyValue(name).trim() || dflt;
      const colour = kind === "energy" ? v("--s1", "#0f766e") : v("--s2", "#b45309");
      const axis = { stroke: v("--muted", "#556070"), grid: { stroke: v("--line", "#d9dfe6"), width: 1 } };
      const tzDate = fleetTzDate(zoneName, fixedOffsetMin);
      const unit = kind === "energy" ? "kWh" : "W";
      const digits = kind === "energy" ? 3 : 0;
      const clock = (ts: number) => {
        const d = tzDate ? tzDate(ts / 1000) : new Date(ts);
        const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
        return kind === "energy"
          ? `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`
          : hm;
      };
      const num = (x: number) =>
        `${x.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${unit}`;
      if (points.length) {
        let peak = 0;
        for (let i = 1; i < ys.length; i++) if (ys[i] > ys[peak]) peak = i;
        setSummary({
          latest: `${num(ys[ys.length - 1])} at ${clock(points[points.length - 1].ts)}`,
          peak: `${num(ys[peak])} at ${clock(points[peak].ts)}`,
          mean: num(ys.reduce((a, b) => a + b, 0) / ys.length),
        });
      }
      plot = new uPlot(
        {
          width: Math.max(260, el.current.clientWidth || 900),
          height,
          ...(tzDate ? { tzDate } : {}),
          series: [
            {},
            {
              label,
              stroke: colour,
              fill: kind === "energy" ? colour + "59" : undefined,
              width: 1.5,
              ...(bars ? { paths: bars } : {}),
            },
          ],
          scales,
          legend: { show: false },
          hooks: {
            setCursor: [(u) => {
              const i = u.cursor.idx;
              setHover(i == null || ys[i] == null ? null : `${clock(points[i].ts)}: ${num(ys[i])}`);
            }],
          },
          axes: [
            // power over a day: 24-hour clock times in the fleet's zone (uPlot's default is 12-hour)
            kind === "power"
              ? { ...axis, values: (_u: uPlot, splits: number[]) => splits.map((s) => clock(s * 1000)) }
              : axis,
            { ...axis, label: kind === "energy" ? "kWh" : "W", size: 56 },
          ],
        },
        [points.map((p) => p.ts / 1000), ys],
        el.current,
      );
    })().catch((e) => setState(`error: ${(e as Error).message}`));
    const ro = new ResizeObserver(() => {
      if (plot && el.current) plot.setSize({ width: Math.max(260, el.current.clientWidth), height });
    });
    if (el.current) ro.observe(el.current);
    return () => {
      stopped = true;
      ro.disconnect();
      plot?.destroy();
    };
  }, [src, kind]);

  return (
    <div class="chart energy-chart">
      {summary
        ? (
          <p class="legend at" aria-live="polite" data-testid={`legend-${kind}`}>
            {hover ?? (
              <>
                Latest <strong>{summary.latest}</strong> · peak {summary.peak} · mean {summary.mean}
              </>
            )}
          </p>
        )
        : null}
      <div ref={el} class="plot" data-testid={`chart-${kind}`} />
      {state === "empty"
        ? <p class="muted">No data in this range.</p>
        : state.startsWith("error")
        ? <p class="notice error" role="alert">{state}</p>
        : null}
    </div>
  );
}
