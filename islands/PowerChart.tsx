/** History chart of one meter (uPlot): power and voltage over the last N minutes, refreshed every 5 s. */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";

interface Point {
  ts: number;
  power: number;
  voltage: number;
}

export default function PowerChart({ deviceId, minutes }: { deviceId: string; minutes: number }) {
  const el = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let plot: uPlot | null = null;
    let stopped = false;
    const load = async () => {
      const to = Date.now();
      const res = await fetch(
        `/api/meters/${encodeURIComponent(deviceId)}/history?from=${to - minutes * 60_000}&to=${to}`,
      );
      if (!res.ok) throw new Error(`history: HTTP ${res.status}`);
      const { points } = await res.json() as { points: Point[] };
      const data: uPlot.AlignedData = [
        points.map((p) => p.ts / 1000),
        points.map((p) => p.power),
        points.map((p) => p.voltage),
      ];
      if (stopped || !el.current) return;
      if (!plot) {
        plot = new uPlot(
          {
            width: Math.min(1100, el.current.clientWidth || 900),
            height: 320,
            series: [
              {},
              { label: "Power (W)", stroke: "#0f766e", width: 1.5, scale: "W" },
              { label: "Voltage (V)", stroke: "#b45309", width: 1, scale: "V" },
            ],
            axes: [{}, { scale: "W", label: "W" }, { scale: "V", label: "V", side: 1, grid: { show: false } }],
          },
          data,
          el.current,
        );
      } else {
        plot.setData(data);
      }
      setError(null);
    };
    const run = () => load().catch((e) => setError(String(e.message ?? e)));
    run();
    const t = setInterval(run, 5000);
    return () => {
      stopped = true;
      clearInterval(t);
      plot?.destroy();
    };
  }, [deviceId, minutes]);

  return (
    <div>
      <div ref={el} data-testid="power-chart" />
      {error ? <p class="badge warn">{error}</p> : null}
    </div>
  );
}
