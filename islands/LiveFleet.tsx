/**
 * The live fleet: one page of meters chosen on the server (filter, sort,
 * offset), grouped by site, with fleet and site totals. The server streams a
 * snapshot of the page, then per-second deltas (only the rows that changed);
 * changing the query reopens the stream, which starts with a new snapshot.
 */
import { Component, type JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  applyLiveDelta,
  LIVE_SORTS,
  LIVE_STATUSES,
  type LiveDelta,
  type LivePage,
  type LiveQuery,
  liveQueryParams,
  type LiveRow,
  type SiteTotal,
} from "../shared/fleet.ts";

const fmt = (v: number | null | undefined, digits: number) => v === null || v === undefined ? "–" : v.toFixed(digits);

// one formatter for every row, every second (toLocaleTimeString builds one per call)
const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

const SORT_LABELS: Record<LiveQuery["sort"], string> = {
  problems: "problems, then power",
  power: "power",
  energy: "energy",
  id: "meter id",
  seen: "last seen",
};

function SiteHeader({ site, total }: { site: string | null; total?: SiteTotal }) {
  return (
    <tr class="site-group" data-site={site ?? ""}>
      <th colspan={8}>
        {site ?? "No site"}
        {total
          ? (
            <span class="muted" data-testid="site-total">
              {` — ${total.meters} meters, ${fmt(total.powerW, 1)} W`}
              {total.problems ? `, ${total.problems} not reporting` : ""}
            </span>
          )
          : null}
      </th>
    </tr>
  );
}

/** Points kept per meter (a reading a second: the last two minutes) and for the fleet (the last ten). */
const METER_POINTS = 120;
const FLEET_POINTS = 600;

/** A tiny line of the last values, drawn from what this page has seen since it opened (nothing server-side). */
function Sparkline(
  { values, width, height, label }: { values: number[]; width: number; height: number; label: string },
) {
  if (values.length < 2) return null;
  const min = Math.min(...values), max = Math.max(...values);
  const span = max - min || 1;
  const step = width / (values.length - 1);
  const points = values.map((v, i) =>
    `${(i * step).toFixed(1)},${(height - 1 - ((v - min) / span) * (height - 2)).toFixed(1)}`
  )
    .join(" ");
  return (
    <svg
      class="sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={label}
    >
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

/** Append a value to a bounded series in place (the oldest falls off). */
function pushBounded(series: number[], v: number, max: number) {
  series.push(v);
  if (series.length > max) series.splice(0, series.length - max);
}

/**
 * One meter's row. Re-rendered only when its reading, its sparkline or (for a meter not reporting) its age changed:
 * a page of 50 rows redraws just the rows whose meters reported.
 */
class MeterRow extends Component<MeterRowProps> {
  override shouldComponentUpdate(next: MeterRowProps) {
    const p = this.props;
    return p.row !== next.row || p.historyTs !== next.historyTs || (next.row[3] !== "ok" && p.now !== next.now);
  }
  override render() {
    return <MeterRowView {...this.props} />;
  }
}

interface MeterRowProps {
  row: LiveRow;
  now: number;
  history?: number[];
  /** when the sparkline's last point was added (its array grows in place) */
  historyTs?: number;
}

function MeterRowView({ row, now, history }: MeterRowProps) {
  const [id, agent, _site, status, power, voltage, current, energyWh, pf, ts, seen, phases, model] = row;
  const ago = Math.max(0, Math.round((now - seen) / 1000));
  return (
    <tr class={status === "ok" ? "status-ok" : `status-${status} ${status}`} data-meter={id} data-status={status}>
      <td>
        <a href={`/meters/${encodeURIComponent(id)}`}>{id}</a>
        {phases > 1 ? <span class="badge">3φ</span> : null}
      </td>
      <td class="num" data-field="power">
        {history ? <Sparkline values={history} width={60} height={16} label={`${id}: power, last minutes`} /> : null}
        {" "}
        {fmt(power, 1)}
      </td>
      <td class="num">{fmt(voltage, 1)}</td>
      <td class="num">{fmt(current, 3)}</td>
      <td class="num">{fmt(energyWh / 1000, 3)}</td>
      <td class="num">{fmt(pf, 2)}</td>
      <td class="muted">{agent}{model ? ` · ${model}` : ""}</td>
      <td class="muted" title={new Date(ts).toISOString()}>
        {status === "ok" ? timeOfDay.format(ts) : `${status}, ${ago} s ago`}
      </td>
    </tr>
  );
}

export default function LiveFleet({ initial }: { initial: LivePage }) {
  const [page, setPage] = useState(initial);
  const [query, setQuery] = useState(initial.query);
  const [connected, setConnected] = useState(false);
  const [typed, setTyped] = useState(initial.query.q);
  const first = useRef(true);
  // what this page has seen, for the sparklines and the fleet chart: kept across queries, bounded
  const seen = useRef({ meters: new Map<string, { ts: number; power: number[] }>(), fleet: [] as number[], at: 0 });
  if (page.at !== seen.current.at) {
    seen.current.at = page.at;
    pushBounded(seen.current.fleet, page.fleetPowerW, FLEET_POINTS);
    for (const row of page.rows) {
      const [id, , , , power, , , , , ts] = row;
      let h = seen.current.meters.get(id);
      if (!h) seen.current.meters.set(id, h = { ts: 0, power: [] });
      if (ts !== h.ts && power !== null) {
        h.ts = ts;
        pushBounded(h.power, power, METER_POINTS);
      }
    }
  }

  useEffect(() => {
    const params = liveQueryParams(query);
    if (!first.current) {
      const qs = params.toString();
      history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
    }
    first.current = false;
    const es = new EventSource(`/api/live${params.size ? `?${params}` : ""}`);
    es.addEventListener("snapshot", (e) => setPage(JSON.parse((e as MessageEvent).data)));
    es.addEventListener("delta", (e) => {
      const d = JSON.parse((e as MessageEvent).data) as LiveDelta;
      setPage((p) => applyLiveDelta(p, d));
    });
    es.onopen = () => setConnected(true);
    es.onerror = () => setConnected(false); // EventSource reconnects by itself, and gets a snapshot
    return () => es.close();
  }, [JSON.stringify(query)]);

  // the id filter follows typing, a moment after it stops
  useEffect(() => {
    if (typed === query.q) return;
    const t = setTimeout(() => setQuery((q) => ({ ...q, q: typed, offset: 0 })), 250);
    return () => clearTimeout(t);
  }, [typed]);

  const set = (patch: Partial<LiveQuery>) => setQuery((q) => ({ ...q, offset: 0, ...patch }));
  const siteTotals = new Map(page.sites.map((s) => [s.site, s]));
  const reporting = page.counts.ok;
  const last = Math.min(page.query.offset + page.rows.length, page.matched);

  const body: JSX.Element[] = [];
  let group: string | null | undefined = undefined;
  for (const row of page.rows) {
    if (row[2] !== group) {
      group = row[2];
      body.push(<SiteHeader key={`site:${group ?? ""}`} site={group} total={siteTotals.get(group)} />);
    }
    const h = seen.current.meters.get(row[0]);
    body.push(<MeterRow key={row[0]} row={row} now={page.at} history={h?.power} historyTs={h?.ts} />);
  }

  return (
    <div class="live-fleet">
      <div class="cards">
        <div class="card">
          <div class="label">Fleet power</div>
          <div class="value" data-testid="fleet-total">{fmt(page.fleetPowerW, 1)} W</div>
          <div data-testid="fleet-chart">
            <Sparkline values={seen.current.fleet} width={160} height={32} label="fleet power since this page opened" />
          </div>
        </div>
        <div class="card">
          <div class="label">Meters reporting</div>
          <div class="value" data-testid="meter-count" data-total={page.total}>{reporting} / {page.total}</div>
        </div>
        <div class="card">
          <div class="label">Updated</div>
          <div class="value">
            {timeOfDay.format(page.at)}{" "}
            <span class={connected ? "badge" : "badge warn"}>{connected ? "live" : "reconnecting"}</span>
          </div>
        </div>
        <div class="card">
          <div class="label">Not reporting</div>
          <div class="value" data-testid="problem-count">
            <span class="badge stale status-stale">{page.counts.stale} stale</span>{" "}
            <span class="badge offline status-offline">{page.counts.offline} offline</span>
          </div>
        </div>
        {page.refusedReadings > 0
          ? (
            <div class="card">
              <div class="label">Readings refused</div>
              <div
                class="value status-stale"
                data-testid="refused-count"
                data-refused={page.refusedReadings}
                title="A bench or unit reported meter ids another one reported first: its readings are not stored"
              >
                {page.refusedReadings}
              </div>
              <p class="small muted">for meter ids another bench or unit reported first:</p>
              <ul class="small plain" data-testid="refused-meters">
                {(page.refusedMeters ?? []).map((r) => (
                  <li
                    key={`${r.deviceId}\u0000${r.source}`}
                    data-meter={r.deviceId}
                    data-source={r.source}
                    title={`${r.readings} readings from ${r.source}, last at ${
                      timeOfDay.format(r.lastAt)
                    }; the id belongs to ${r.owner || "?"}`}
                  >
                    <a href={`/meters/${encodeURIComponent(r.deviceId)}`}>{r.deviceId}</a> ← {r.source}: {r.readings}
                  </li>
                ))}
                {page.refusedMeterCount > (page.refusedMeters ?? []).length
                  ? (
                    <li class="muted">
                      and {page.refusedMeterCount - page.refusedMeters.length} more:{" "}
                      <a href="/api/refused-readings">all</a>
                    </li>
                  )
                  : null}
              </ul>
            </div>
          )
          : null}
      </div>
      {page.total === 0
        ? (
          <p class="muted">
            No meter has reported yet. Start an agent: <code>deno task agent run</code>
          </p>
        )
        : (
          <>
            <form class="filters" onSubmit={(e) => e.preventDefault()}>
              <label>
                Meter{" "}
                <input
                  type="search"
                  data-testid="filter-q"
                  value={typed}
                  placeholder="id contains"
                  onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
                />
              </label>
              <label>
                Site{" "}
                <select
                  data-testid="filter-site"
                  value={query.site}
                  onChange={(e) => set({ site: (e.target as HTMLSelectElement).value })}
                >
                  <option value="">all</option>
                  {page.sites.filter((s) => s.site !== null).map((s) => (
                    <option key={s.site!} value={s.site!}>{s.site}</option>
                  ))}
                </select>
              </label>
              <label>
                Agent{" "}
                <input
                  type="search"
                  data-testid="filter-agent"
                  value={query.agent}
                  onChange={(e) => set({ agent: (e.target as HTMLInputElement).value })}
                />
              </label>
              {page.models.length
                ? (
                  <label>
                    Model{" "}
                    <select
                      data-testid="filter-model"
                      value={query.model}
                      onChange={(e) => set({ model: (e.target as HTMLSelectElement).value })}
                    >
                      <option value="">all</option>
                      {page.models.map((m) => <option key={m} value={m}>{m}</option>)}
                    </select>
                  </label>
                )
                : null}
              <label>
                Status{" "}
                <select
                  data-testid="filter-status"
                  value={query.status}
                  onChange={(e) => set({ status: (e.target as HTMLSelectElement).value as LiveQuery["status"] })}
                >
                  <option value="">all</option>
                  {LIVE_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
                </select>
              </label>
              <label>
                Sort{" "}
                <select
                  data-testid="sort"
                  value={query.sort}
                  onChange={(e) => set({ sort: (e.target as HTMLSelectElement).value as LiveQuery["sort"] })}
                >
                  {LIVE_SORTS.map((s) => <option key={s} value={s}>{SORT_LABELS[s]}</option>)}
                </select>
              </label>
              <button
                type="button"
                data-testid="sort-dir"
                onClick={() => set({ dir: query.dir === "desc" ? "asc" : "desc" })}
              >
                {query.dir === "desc" ? "↓ descending" : "↑ ascending"}
              </button>
            </form>
            <div class="table-wrap">
              <table data-testid="meters">
                <thead>
                  <tr>
                    <th>Meter</th>
                    <th class="num">Power (W)</th>
                    <th class="num">Voltage (V)</th>
                    <th class="num">Current (A)</th>
                    <th class="num">Energy (kWh)</th>
                    <th class="num">PF</th>
                    <th>Agent</th>
                    <th>Last reading</th>
                  </tr>
                </thead>
                <tbody>{body}</tbody>
              </table>
            </div>
            <nav class="pager" data-testid="pager">
              <button
                type="button"
                disabled={query.offset === 0}
                onClick={() => setQuery((q) => ({ ...q, offset: Math.max(0, q.offset - q.limit) }))}
              >
                ← previous
              </button>
              <span data-testid="page-range">
                {page.matched === 0 ? "no meter matches" : `${page.query.offset + 1}–${last} of ${page.matched}`}
                {page.matched !== page.total ? ` (filtered from ${page.total})` : ""}
              </span>
              <button
                type="button"
                disabled={last >= page.matched}
                onClick={() => setQuery((q) => ({ ...q, offset: q.offset + q.limit }))}
              >
                next →
              </button>
            </nav>
          </>
        )}
    </div>
  );
}
