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
}

interface Point {
  ts: number;
  wh?: number;
  w?: number;
}

export default function EnergyChart({ src, kind, label, height = 260 }: EnergyChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<string>("loading");

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
      const from = Number(q.get("from")), to = Number(q.get("to"));
      const scales: uPlot.Scales = from > 0 && to > from ? { x: { time: true, range: [from / 1000, to / 1000] } } : {};
      plot = new uPlot(
        {
          width: Math.min(1100, el.current.clientWidth || 900),
          height,
          series: [
            {},
            {
              label,
              stroke: kind === "energy" ? "#0f766e" : "#b45309",
              fill: kind === "energy" ? "rgba(15,118,110,.35)" : undefined,
              width: 1.5,
              ...(bars ? { paths: bars } : {}),
            },
          ],
          scales,
          axes: [{}, { label: kind === "energy" ? "kWh" : "W" }],
        },
        [points.map((p) => p.ts / 1000), ys],
        el.current,
      );
    })().catch((e) => setState(`error: ${(e as Error).message}`));
    return () => {
      stopped = true;
      plot?.destroy();
    };
  }, [src, kind]);

  return (
    <div class="energy-chart">
      <div ref={el} data-testid={`chart-${kind}`} />
      {state === "empty"
        ? <p class="muted">No data in this range.</p>
        : state.startsWith("error")
        ? <p class="badge warn">{state}</p>
        : null}
    </div>
  );
}
