/**
 * Live rollout view: polls the rollout API; shows why the rollout is waiting, progress bars for the whole rollout
 * and each group (verified / failed / in progress / waiting), the devices, and sends pause/resume/cancel/retry.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import {
  DEVICE_STATES,
  deviceBadge,
  type DeviceState,
  GROUP_BADGE,
  PROGRESS_LABEL,
  PROGRESS_PARTS,
  progressOf,
  ROLLOUT_BADGE,
  type RolloutView,
} from "../shared/ota.ts";
import { absolute, relative } from "../shared/time-text.ts";
import { type Zone, zoneByName } from "../shared/zone.ts";

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
const stateText = (s: string) => s.replace("_", " ");

type Progress = ReturnType<typeof progressOf>;

/** One stacked bar (also server-rendered by the rollout list); its parts carry their counts so a reader (and a test) can check it against the devices. */
export function ProgressBar({ p, label, testid }: { p: Progress; label: string; testid: string }) {
  const shown = PROGRESS_PARTS.filter((k) => p[k] > 0);
  const text = shown.length ? shown.map((k) => `${p[k]} ${PROGRESS_LABEL[k]}`).join(", ") : "no devices";
  return (
    <>
      <div class="progress stacked" role="img" aria-label={`${label}: ${text}`} data-testid={testid}>
        {shown.map((k) => (
          <span
            key={k}
            class={k}
            data-part={k}
            data-count={p[k]}
            style={{ width: `${(100 * p[k]) / p.total}%` }}
            title={`${p[k]} ${PROGRESS_LABEL[k]}`}
          />
        ))}
      </div>
      <ul class="legend small" aria-hidden="true">
        {shown.map((k) => (
          <li key={k}>
            <span class={`swatch ${k}`} />
            {p[k]} {PROGRESS_LABEL[k]}
          </li>
        ))}
      </ul>
    </>
  );
}

function When({ ts, now, zone }: { ts: number; now: number; zone?: Zone }) {
  return <time dateTime={new Date(ts).toISOString()} title={absolute(ts, zone)}>{relative(ts, now)}</time>;
}

export default function RolloutLive(
  { initial, csrf = "", now: serverNow, zoneName }: {
    initial: RolloutView;
    csrf?: string;
    /** the server's clock when the page was rendered, so server and browser render the same relative times */
    now?: number;
    /** the installation's zone: absolute times on hover are in it */
    zoneName?: string;
  },
) {
  const [view, setView] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const [now, setNow] = useState(serverNow ?? Date.now());
  const zone = useMemo(() => {
    try {
      return zoneName ? zoneByName(zoneName) : undefined;
    } catch {
      return undefined;
    }
  }, [zoneName]);
  const id = initial.rollout.id;

  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const res = await fetch(`/api/rollouts/${id}`);
        if (res.ok) setView(await res.json());
      } catch { /* keep the last view */ }
      setNow(Date.now());
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
  const all = progressOf(view.devices);
  const shown = view.devices.filter((d) => !filter || d.state === filter);
  const blockers = view.blockers ?? [];
  const failed = (r.counts.failed ?? 0) + (r.counts.timed_out ?? 0);
  return (
    <div class="stack">
      <div class="row" aria-live="polite">
        <span class={`badge ${ROLLOUT_BADGE[r.status] ?? "info"}`}>
          <span data-testid="status">{r.status}</span>
        </span>
        <strong data-testid="verified-pct">
          {r.total ? Math.floor((100 * (r.counts.verified ?? 0)) / r.total) : 0} % verified
        </strong>
        {r.pauseReason && <span class="muted">{r.pauseReason}</span>}
      </div>

      {blockers.length > 0 && (
        <div class="notice warn" role="status" data-testid="blockers">
          <strong>{r.status === "paused" ? "Paused" : "Waiting"}: why this rollout is not progressing</strong>
          <ul>
            {blockers.map((b) => <li key={b}>{b}</li>)}
          </ul>
        </div>
      )}

      <div class="actions">
        <button
          type="button"
          onClick={() => act("pause")}
          disabled={r.status !== "running" && r.status !== "scheduled"}
        >
          Pause
        </button>
        <button type="button" onClick={() => act("resume")} disabled={r.status !== "paused"}>Resume</button>
        <button
          type="button"
          onClick={() => act("retry_failed")}
          disabled={r.status === "cancelled" || failed === 0}
        >
          Retry failed
        </button>
        <button
          type="button"
          class="danger"
          onClick={() => confirm("Cancel this rollout?") && act("cancel")}
          disabled={r.status === "cancelled" || r.status === "finished"}
        >
          Cancel
        </button>
        {error && <span class="badge failed" role="alert">{error}</span>}
      </div>

      <div class="cards">
        <div class="card stat">
          <div class="label">Targets</div>
          <div class="value num">{r.total}</div>
        </div>
        {PROGRESS_PARTS.filter((k) => k !== "other" || all.other > 0).map((k) => (
          <div class="card stat" key={k}>
            <div class="label">{PROGRESS_LABEL[k]}</div>
            <div class="value num" data-testid={`count-${k}`}>{all[k]}</div>
          </div>
        ))}
      </div>

      <section class="card" aria-labelledby="overall-h">
        <h2 class="card-title" id="overall-h">Progress</h2>
        <ProgressBar p={all} label="All groups" testid="progress-all" />
        <p class="small muted">
          Image <a href={`/firmware#fw-${r.firmwareId}`}>{r.filename}</a> ({r.platform} {r.version}) · {r.pacingPerMin}
          /min via {r.delivery === "http" ? "HTTP /api/ota" : "MQTT ota_http"}
          {r.window
            ? ` · window ${hhmm(r.window.start)}–${hhmm(r.window.end)} (${
              r.window.zone ?? `UTC offset ${(r.window as { tzOffsetMin?: number }).tzOffsetMin ?? 0} min`
            })`
            : " · any time"} · started <When ts={r.startAt} now={now} zone={zone} />
          {r.finishedAt
            ? (
              <>
                · finished <When ts={r.finishedAt} now={now} zone={zone} />
              </>
            )
            : null}
          {" · not included: "}
          {r.excluded.wrongPlatform} of another chip, {r.excluded.alreadyCurrent} already current, {r.excluded.noTopic}
          {" "}
          without a topic
        </p>
      </section>

      <section class="card" aria-labelledby="groups-h" data-testid="groups">
        <h2 class="card-title" id="groups-h">Groups</h2>
        <div class="grid">
          {r.groups.map((g) => (
            <div key={g.index} data-testid={`group-${g.index}`}>
              <h3 class="row" style={{ margin: "0 0 .25rem", fontSize: "1rem" }}>
                {g.name} <span class="muted small">{g.percent} % · {g.total} units</span>
                <span class={`badge ${GROUP_BADGE[g.state] ?? "info"}`}>{g.state}</span>
              </h3>
              <ProgressBar p={progressOf(view.devices, g.index)} label={`Group ${g.name}`} testid="group-progress" />
              <p class="small muted" style={{ margin: 0 }}>
                next group at ≥ {g.successThreshold} % verified; pauses above {g.errorThreshold} % failed
              </p>
            </div>
          ))}
        </div>
      </section>

      <section class="card" aria-labelledby="devices-h">
        <h2 class="card-title" id="devices-h">Devices</h2>
        <div class="filters">
          <div class="form-row">
            <label for="device-state">State</label>
            <select id="device-state" onChange={(e) => setFilter((e.target as HTMLSelectElement).value)}>
              <option value="">all ({view.devices.length})</option>
              {DEVICE_STATES.map((s) => (
                <option key={s} value={s}>
                  {stateText(s)} ({r.counts[s] ?? 0})
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="table-wrap" role="region" aria-label="Devices of this rollout" tabIndex={0}>
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
                <tr key={d.unitId} class={deviceBadge(d.state as DeviceState) === "failed" ? "failed" : undefined}>
                  <td class="nowrap">
                    <a href={`/units/${encodeURIComponent(d.unitId)}`}>{d.unitId}</a>
                  </td>
                  <td class="mono">{d.topic}</td>
                  <td>{r.groups[d.group]?.name}</td>
                  <td>
                    <span class={`badge ${deviceBadge(d.state as DeviceState)}`} data-state={d.state}>
                      {stateText(d.state)}
                    </span>
                  </td>
                  <td class="num">{d.attempts}</td>
                  <td>{d.fromVersion ?? "–"}</td>
                  <td class="nowrap">
                    <When ts={d.stateAt} now={now} zone={zone} />
                  </td>
                  <td style={d.error ? { minWidth: "16rem" } : undefined}>{d.error ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {shown.length === 0 && <p class="muted">No device in this state.</p>}
        {shown.length > 500 && <p class="muted">{shown.length - 500} more not shown.</p>}
      </section>
    </div>
  );
}
