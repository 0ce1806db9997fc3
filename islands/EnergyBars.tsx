/**
 * Stacked energy bars (uPlot): one band per meter (largest first) over the
 * buckets of a period, the y axis fitted to the tallest stack. The legend
 * above the chart shows each meter's real kWh for the bucket under the
 * pointer, and the period's totals otherwise (never "--"). The data comes from
 * the page (server-rendered), so the chart, the table below it and the CSV agree.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";

export interface EnergyBarsProps {
  labels: string[];
  longLabels: string[];
  series: { id: string; label: string; kwh: number[]; totalKwh: number }[];
  totalKwh: number[];
  sumKwh: number;
  /** what the totals cover when nothing is hovered, e.g. "December 2026" */
  periodLabel: string;
  height?: number;
}

const fmt = (x: number) => x.toLocaleString("en", { minimumFractionDigits: 3, maximumFractionDigits: 3 });

/** The page's colour tokens (they change with the theme). */
function palette(n: number): { series: string[]; axis: string; grid: string } {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, dflt: string) => css.getPropertyValue(name).trim() || dflt;
  return {
    series: Array.from({ length: n }, (_, i) => v(`--s${(i % 8) + 1}`, "#0f766e")),
    axis: v("--muted", "#556070"),
    grid: v("--line", "#d9dfe6"),
  };
}

/** A round upper bound for the y axis: 1, 2, 2.5 or 5 × 10^n above the tallest stack. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= max * 1.04) return m * p;
  return 10 * p;
}

export default function EnergyBars(props: EnergyBarsProps) {
  const { labels, longLabels, series, totalKwh, sumKwh, periodLabel, height = 280 } = props;
  const el = useRef<HTMLDivElement>(null);
  const [idx, setIdx] = useState<number | null>(null);
  const [theme, setTheme] = useState(0);

  // redraw in the new colours when the theme changes (toggle or OS)
  useEffect(() => {
    const bump = () => setTheme((t) => t + 1);
    const mo = new MutationObserver(bump);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    const mq = matchMedia("(prefers-color-scheme: dark)");
    mq.addEventListener("change", bump);
    return () => {
      mo.disconnect();
      mq.removeEventListener("change", bump);
    };
  }, []);

  useEffect(() => {
    if (!el.current || !labels.length) return;
    const n = labels.length;
    const pal = palette(series.length);
    const colours = pal.series;
    const otherColour = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#888";
    // cumulative from the bottom band up; the tallest is drawn first so each band paints over the one below
    const stacks: number[][] = series.map((_, k) =>
      Array.from({ length: n }, (_, i) => series.slice(k).reduce((s, x) => s + x.kwh[i], 0))
    );
    const xs = Array.from({ length: n }, (_, i) => i);
    const bars = uPlot.paths.bars!({ size: [0.8, 80], gap: 1 });
    const top = Math.max(0, ...stacks[0] ?? [0]);
    const width = () => Math.max(260, el.current?.clientWidth ?? 600);
    const plot = new uPlot(
      {
        width: width(),
        height,
        legend: { show: false },
        cursor: { points: { show: false }, drag: { x: false, y: false } },
        scales: { x: { time: false, range: () => [-0.5, n - 0.5] }, y: { range: () => [0, niceMax(top)] } },
        series: [
          {},
          ...series.map((s, k) => {
            const c = s.id === "other" ? otherColour : colours[k];
            return { label: s.label, stroke: c, fill: c, width: 0, paths: bars, points: { show: false } };
          }),
        ],
        axes: [
          {
            stroke: pal.axis,
            grid: { show: false },
            ticks: { stroke: pal.grid },
            splits: (u) => {
              const room = Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 44));
              const step = Math.ceil(n / room);
              return xs.filter((i) => i % step === 0);
            },
            values: (_u, splits) => splits.map((i) => labels[i] ?? ""),
          },
          {
            label: "kWh",
            stroke: pal.axis,
            grid: { stroke: pal.grid, width: 1 },
            ticks: { stroke: pal.grid },
            size: 56,
          },
        ],
        hooks: {
          setCursor: [(u) => setIdx(u.cursor.idx ?? null)],
        },
      },
      [xs, ...stacks],
      el.current,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [labels.join("|"), series.map((s) => s.kwh.join(",")).join(";"), theme]);

  const at = idx !== null && idx >= 0 && idx < labels.length ? idx : null;
  return (
    <div class="chart" data-testid="energy-bars">
      <p class="legend at" data-testid="legend-at" aria-live="polite">
        {at === null
          ? (
            <>
              Total, {periodLabel}: <strong>{fmt(sumKwh)} kWh</strong>
            </>
          )
          : (
            <>
              {longLabels[at]}: <strong>{fmt(totalKwh[at])} kWh</strong>
            </>
          )}
      </p>
      <ul class="legend" data-testid="legend">
        {series.map((s, k) => (
          <li key={s.id} data-series={s.id}>
            <span
              class="swatch"
              style={`background: var(${s.id === "other" ? "--muted" : `--s${(k % 8) + 1}`})`}
              aria-hidden="true"
            />
            {s.label} <span class="num" data-testid="legend-value">{fmt(at === null ? s.totalKwh : s.kwh[at])}</span>
            <span class="unit">kWh</span>
          </li>
        ))}
      </ul>
      <div ref={el} class="plot" aria-hidden="true" />
    </div>
  );
}
