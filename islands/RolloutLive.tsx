/** Live rollout view: polls the rollout API, shows groups and devices, and sends pause/resume/cancel/retry. */
import { useEffect, useState } from "preact/hooks";

// Structural copies of the server types: islands import only shared/ and preact.
interface Group {
  index: number;
  name: string;
  percent: number;
  successThreshold: number;
  errorThreshold: number;
  state: string;
  total: number;
}
interface Device {
  unitId: string;
  topic: string;
  group: number;
  state: string;
  attempts: number;
  fromVersion: string | null;
  error: string | null;
  stateAt: number;
}
export interface RolloutView {
  rollout: {
    id: string;
    name: string;
    filename: string;
    version: string;
    status: string;
    pauseReason: string | null;
    pacingPerMin: number;
    delivery: string;
    groups: Group[];
    counts: Record<string, number>;
    total: number;
    startAt: number;
    window: { start: number; end: number; zone?: string; tzOffsetMin?: number } | null;
    excluded: Record<string, number>;
  };
  devices: Device[];
  /** why the rollout is not progressing right now (server/ota/preview.ts rolloutBlockers) */
  blockers?: string[];
}

const STATES = [
  "scheduled",
  "commanded",
  "downloading",
  "rebooting",
  "verified",
  "failed",
  "timed_out",
  "skipped_offline",
  "skipped",
  "cancelled",
];
const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;

export default function RolloutLive({ initial, csrf = "" }: { initial: RolloutView; csrf?: string }) {
  const [view, setView] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const id = initial.rollout.id;

  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const res = await fetch(`/api/rollouts/${id}`);
        if (res.ok) setView(await res.json());
      } catch { /* keep the last view */ }
      if (!stop) setTimeout(poll, 2000);
    };
    const t = setTimeout(poll, 2000);
    return () => {
      stop = true;
      clearTimeout(t);
    };
  }, [id]);

  const act = async (action: string) => {
    const res = await fetch(`/api/rollouts/${id}/${action}`, {
      method: "POST",
      headers: csrf ? { "x-csrf-token": csrf } : {},
    });
    const body = await res.json();
    setError(res.ok ? null : body.error);
    if (res.ok) setView({ ...view, rollout: body, blockers: undefined });
  };

  const r = view.rollout;
  const perGroup = r.groups.map((g) => {
    const c: Record<string, number> = {};
    for (const d of view.devices) if (d.group === g.index) c[d.state] = (c[d.state] ?? 0) + 1;
    return c;
  });
  const shown = view.devices.filter((d) => !filter || d.state === filter);
  return (
    <div>
      <p>
        <b data-testid="status">{r.status}</b> ·{" "}
        <b data-testid="verified-pct">
          {r.total ? Math.floor((100 * (r.counts.verified ?? 0)) / r.total) : 0} % verified
        </b>
        {r.pauseReason ? ` — ${r.pauseReason}` : ""} · {r.filename} ({r.version}) · {r.total} targets ·{" "}
        {r.pacingPerMin}/min via {r.delivery}
        {r.window
          ? ` · window ${hhmm(r.window.start)}–${hhmm(r.window.end)} (${
            r.window.zone ?? `UTC offset ${r.window.tzOffsetMin ?? 0} min`
          })`
          : ""}
        {" · excluded: "}
        {Object.entries(r.excluded).map(([k, v]) => `${v} ${k}`).join(", ")}
      </p>
      {view.blockers && view.blockers.length > 0 && (
        <ul class="blockers" data-testid="blockers">
          {view.blockers.map((b) => <li key={b}>{b}</li>)}
        </ul>
      )}
      <p>
        <button
          type="button"
          onClick={() => act("pause")}
          disabled={r.status !== "running" && r.status !== "scheduled"}
        >
          Pause
        </button>{" "}
        <button type="button" onClick={() => act("resume")} disabled={r.status !== "paused"}>Resume</button>{" "}
        <button
          type="button"
          onClick={() => act("retry_failed")}
          disabled={r.status === "cancelled" || (r.counts.failed ?? 0) + (r.counts.timed_out ?? 0) === 0}
        >
          Retry failed
        </button>{" "}
        <button
          type="button"
          onClick={() => confirm("Cancel this rollout?") && act("cancel")}
          disabled={r.status === "cancelled" || r.status === "finished"}
        >
          Cancel
        </button>
        {error && <span class="badge warn">{error}</span>}
      </p>
      <div class="cards">
        {STATES.filter((s) => r.counts[s]).map((s) => (
          <div class="card" key={s}>
            <div class="label">{s.replace("_", " ")}</div>
            <div class="value">{r.counts[s]}</div>
          </div>
        ))}
      </div>
      <table data-testid="groups">
        <thead>
          <tr>
            <th>Group</th>
            <th>State</th>
            <th class="num">Size</th>
            <th>Success / error threshold</th>
            <th>Progress</th>
          </tr>
        </thead>
        <tbody>
          {r.groups.map((g, i) => (
            <tr key={g.index}>
              <td>{g.name} ({g.percent} %)</td>
              <td>{g.state}</td>
              <td class="num">{g.total}</td>
              <td>≥ {g.successThreshold} % verified / &gt; {g.errorThreshold} % failed</td>
              <td>{Object.entries(perGroup[i]).map(([s, n]) => `${n} ${s}`).join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Devices</h2>
      <label>
        state{" "}
        <select onChange={(e) => setFilter((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </label>
      <table data-testid="devices">
        <thead>
          <tr>
            <th>Unit</th>
            <th>Topic</th>
            <th>Group</th>
            <th>State</th>
            <th class="num">Attempts</th>
            <th>From</th>
            <th>Since</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, 500).map((d) => (
            <tr key={d.unitId}>
              <td>
                <a href={`/units/${d.unitId}`}>{d.unitId}</a>
              </td>
              <td>{d.topic}</td>
              <td>{r.groups[d.group]?.name}</td>
              <td>{d.state}</td>
              <td class="num">{d.attempts}</td>
              <td>{d.fromVersion ?? "–"}</td>
              <td>{new Date(d.stateAt).toLocaleTimeString()}</td>
              <td>{d.error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length > 500 && <p class="muted">{shown.length - 500} more not shown.</p>}
    </div>
  );
}
