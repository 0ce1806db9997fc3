/**
 * One meter, live: big values that change as readings are committed (SSE from
 * /meters/:id/live), online / stale / offline from the age of the last reading,
 * and a power and voltage chart of the last minutes that grows with each reading.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { type MeterLatest, meterStatus } from "../shared/fleet.ts";
import { fleetTzDate } from "./EnergyChart.tsx";

export interface MeterLiveProps {
  deviceId: string;
  initial: MeterLatest | null;
  minutes: number;
  zoneName?: string;
  fixedOffsetMin?: number | null;
}

const f = (v: number | undefined, digits: number) =>
  v === undefined || v === null ? "–" : v.toLocaleString("en", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

export default function MeterLive({ deviceId, initial, minutes, zoneName, fixedOffsetMin }: MeterLiveProps) {
  /** "2026-12-01 15:03:07 Europe/Berlin": the reading's time in the fleet's zone, for the tooltip */
  const absolute = (ts: number) => {
    const tz = fleetTzDate(zoneName, fixedOffsetMin);
    const d = tz ? tz(ts / 1000) : new Date(ts);
    const p = (x: number) => String(x).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${
      p(d.getSeconds())
    } ${zoneName ?? ""}`.trim();
  };
  const [latest, setLatest] = useState<MeterLatest | null>(initial);
  const [connected, setConnected] = useState(false);
  const [now, setNow] = useState(() => initial?.committedAt ?? 0);
  const [hover, setHover] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const el = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const data = useRef<{ ts: number[]; w: number[]; v: number[] }>({ ts: [], w: [], v: [] });

  // the clock for "x s ago" and the status: the browser's, ticking each second
  useEffect(() => {
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  useEffect(() => {
    let stopped = false;
    const tzDate = fleetTzDate(zoneName, fixedOffsetMin);
    const hm = (ts: number) => {
      const d = tzDate ? tzDate(ts) : new Date(ts * 1000);
      return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, "0")).join(":");
    };
    const draw = () => {
      const d = data.current;
      const cutoff = Date.now() - minutes * 60_000;
      while (d.ts.length && d.ts[0] < cutoff / 1000) {
        d.ts.shift();
        d.w.shift();
        d.v.shift();
      }
      if (!el.current || stopped) return;
      if (plotRef.current) {
        plotRef.current.setData([d.ts, d.w, d.v]);
        return;
      }
      const css = getComputedStyle(document.documentElement);
      const v = (name: string, dflt: string) => css.getPropertyValue(name).trim() || dflt;
      const axis = { stroke: v("--muted", "#556070"), grid: { stroke: v("--line", "#d9dfe6"), width: 1 } };
      plotRef.current = new uPlot(
        {
          width: Math.max(260, el.current.clientWidth),
          height: 300,
          ...(tzDate ? { tzDate } : {}),
          legend: { show: false },
          // the window the heading names, ending now: a meter that has reported once still gets a readable time axis
          scales: {
            x: {
              time: true,
              range: (): uPlot.Range.MinMax => {
                const now = Date.now() / 1000;
                return [now - minutes * 60, now];
              },
            },
          },
          series: [
            {},
            { label: "Power (W)", stroke: v("--s1", "#0f766e"), width: 1.5, scale: "W" },
            { label: "Voltage (V)", stroke: v("--s2", "#b45309"), width: 1, scale: "V" },
          ],
          axes: [
            { ...axis, values: (_u: uPlot, splits: number[]) => splits.map((x) => hm(x).slice(0, 5)) },
            { ...axis, scale: "W", label: "W", size: 56 },
            { ...axis, scale: "V", label: "V", side: 1, grid: { show: false }, size: 48 },
          ],
          hooks: {
            setCursor: [(u) => {
              const i = u.cursor.idx;
              const dd = data.current;
              setHover(
                i == null || dd.ts[i] == null ? null : `${hm(dd.ts[i])}: ${f(dd.w[i], 1)} W, ${f(dd.v[i], 1)} V`,
              );
            }],
          },
        },
        [d.ts, d.w, d.v],
        el.current,
      );
    };
    const add = (r: MeterLatest["reading"]) => {
      const d = data.current;
      const t = r.ts / 1000;
      if (d.ts.length && t <= d.ts[d.ts.length - 1]) return; // already drawn (history and the stream overlap)
      d.ts.push(t);
      d.w.push(r.power);
      d.v.push(r.voltage);
    };

    (async () => {
      const to = Date.now();
      const res = await fetch(
        `/api/meters/${encodeURIComponent(deviceId)}/history?from=${to - minutes * 60_000}&to=${to}`,
      );
      if (!res.ok) throw new Error(`history: HTTP ${res.status}`);
      const { points } = await res.json() as { points: MeterLatest["reading"][] };
      for (const p of points) add(p);
      draw();
    })().catch((e) => setError(String((e as Error).message ?? e)));

    const es = new EventSource(`/meters/${encodeURIComponent(deviceId)}/live`);
    es.addEventListener("reading", (e) => {
      const m = JSON.parse((e as MessageEvent).data) as MeterLatest;
      // the stream carries no interval; the meter's own (from the page) decides stale and offline
      setLatest((prev) => ({ ...m, intervalMs: m.intervalMs ?? prev?.intervalMs }));
      add(m.reading);
      draw();
    });
    es.onopen = () => setConnected(true);
    es.onerror = () => setConnected(false); // EventSource reconnects by itself

    const ro = new ResizeObserver(() => {
      if (plotRef.current && el.current) {
        plotRef.current.setSize({ width: Math.max(260, el.current.clientWidth), height: 300 });
      }
    });
    if (el.current) ro.observe(el.current);
    return () => {
      stopped = true;
      es.close();
      ro.disconnect();
      plotRef.current?.destroy();
      plotRef.current = null;
    };
  }, [deviceId, minutes]);

  const r = latest?.reading;
  const age = r && now ? now - latest!.committedAt : 0;
  const st = r && now ? meterStatus(latest!, now) : r ? "ok" : "offline";
  const status = st === "ok" ? "online" : st;
  return (
    <div>
      <p class="row">
        <span class={`badge ${status}`} data-testid="meter-status">{status}</span>
        <span class={connected ? "badge info" : "badge warn"} data-testid="stream">
          {connected ? "live" : "reconnecting"}
        </span>
        {r
          ? (
            <span class="muted small">
              last reading{" "}
              <time dateTime={new Date(r.ts).toISOString()} title={absolute(r.ts)} data-testid="last-reading">
                {ago(age)}
              </time>{" "}
              from agent <code>{latest!.agentId}</code>
            </span>
          )
          : <span class="muted small">waiting for a first reading…</span>}
      </p>
      <div class="cards" data-testid="meter-values">
        <Value label="Power" v={f(r?.power, 1)} unit="W" testid="power" />
        <Value label="Voltage" v={f(r?.voltage, 1)} unit="V" testid="voltage" />
        <Value label="Current" v={f(r?.current, 3)} unit="A" testid="current" />
        <Value label="Power factor" v={f(r?.powerFactor, 2)} unit="" testid="pf" />
        <Value label="Frequency" v={f(r?.frequency, 2)} unit="Hz" testid="frequency" />
        <Value label="Energy counter" v={f(r ? r.energyWh / 1000 : undefined, 3)} unit="kWh" testid="energy" />
      </div>
      {r?.phases?.length
        ? (
          <div class="table-wrap" role="region" aria-label="Phases" tabIndex={0}>
            <table data-testid="phases">
              <thead>
                <tr>
                  <th scope="col">Phase</th>
                  <th scope="col" class="num">Power (W)</th>
                  <th scope="col" class="num">Voltage (V)</th>
                  <th scope="col" class="num">Current (A)</th>
                  <th scope="col" class="num">PF</th>
                </tr>
              </thead>
              <tbody>
                {r.phases.map((p, i) => (
                  <tr key={i}>
                    <th scope="row">L{i + 1}</th>
                    <td class="num">{f(p.power, 1)}</td>
                    <td class="num">{f(p.voltage, 1)}</td>
                    <td class="num">{f(p.current, 3)}</td>
                    <td class="num">{f(p.powerFactor, 2)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
        : null}
      <section class="card">
        <h2 class="card-title">Last {minutes} minutes</h2>
        <p class="legend at" aria-live="off" data-testid="chart-legend">
          {hover ?? (r ? `Now: ${f(r.power, 1)} W, ${f(r.voltage, 1)} V` : "No readings yet")}
        </p>
        <div ref={el} class="plot" data-testid="power-chart" aria-hidden="true" />
        {error ? <p class="notice error" role="alert">{error}</p> : null}
      </section>
    </div>
  );
}

function Value({ label, v, unit, testid }: { label: string; v: string; unit: string; testid: string }) {
  return (
    <div class="card stat">
      <div class="label">{label}</div>
      <div class="value" data-testid={`live-${testid}`}>
        {v}
        {unit && v !== "–" ? <span class="unit">{unit}</span> : null}
      </div>
    </div>
  );
}
