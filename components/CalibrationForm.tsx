/**
 * The unit page's calibration section: reference volts/amps/watts as a trusted meter reads them
 * for a deployed OpenBeken unit (sent as VoltageSet/CurrentSet/PowerSet, checked on its next readings).
 */
import type { CalibrationEntry } from "../server/calibration/store.ts";
import type { UnitLive } from "../server/openbeken/presence.ts";

const pct = (x: number | undefined) => (x === undefined ? "?" : `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`);

export function calibrationMessage(e: CalibrationEntry): string {
  const result = e.verified === null || e.verified === undefined
    ? "no reading came back yet to check it"
    : `power error ${pct(e.errorBeforePct?.power)} → ${pct(e.errorAfterPct?.power)}, voltage ${
      pct(e.errorBeforePct?.voltage)
    } → ${pct(e.errorAfterPct?.voltage)}: ${e.verified ? "verified on the next readings" : "readings still off"}`;
  return `calibration #${e.seq} sent (${e.commands.join("; ")}): ${result}`;
}

export function benchCalibrationMessage(e: CalibrationEntry | null, jobId: string): string {
  if (!e) return `calibration ${jobId} sent to the bench; no record yet (see the calibration history)`;
  return `calibrated on the bench (#${e.seq}, ${e.chip}): power error ${pct(e.errorBeforePct?.power)} → ${
    pct(e.errorAfterPct?.power)
  }, factors ${e.factors ? Object.values(e.factors).map((f) => f.toPrecision(6)).join(" / ") : "–"}`;
}

/** A chip meter a connected bench agent polls (agent run --port … --profile …). */
export interface BenchMeter {
  agentId: string;
  port: string;
  profile: string;
}

/** What the reference meter reads: the same three fields in both forms. */
function ReferenceFields() {
  return (
    <>
      <label>
        reference V <input name="volts" type="number" step="any" min="0" size={6} required />
      </label>
      <label>
        A <input name="amps" type="number" step="any" min="0" size={6} required />
      </label>
      <label>
        W <input name="watts" type="number" step="any" min="0" size={6} required />
      </label>
    </>
  );
}

export function CalibrationForm(
  { unitId, csrf, deployed, live, meters }: {
    unitId: string;
    csrf: string;
    deployed: boolean;
    live: UnitLive | null;
    meters: BenchMeter[];
  },
) {
  return (
    <>
      {meters.length > 0 && (
        <form method="post" class="filters" data-testid="bench-calibration-form">
          <input type="hidden" name="_csrf" value={csrf} />
          <input type="hidden" name="form" value="calibrate-bench" />
          <label>
            at the bench{" "}
            <select name="target">
              {meters.map((m) => (
                <option key={`${m.agentId} ${m.port}`} value={`${m.agentId} ${m.port}`}>
                  {m.agentId}: {m.port} ({m.profile})
                </option>
              ))}
            </select>
          </label>
          <ReferenceFields />
          <button type="submit">Calibrate at the bench</button>
        </form>
      )}
      {deployed
        ? (
          <form method="post" class="filters" data-testid="calibration-form">
            <input type="hidden" name="_csrf" value={csrf} />
            <input type="hidden" name="form" value="calibrate" />
            <ReferenceFields />
            <label>
              note <input name="note" size={14} />
            </label>
            <button type="submit">Calibrate</button>
            <span class="muted">
              now reads {live?.voltage ?? "–"} V / {live?.current ?? "–"} A / {live?.power ?? "–"} W
            </span>
          </form>
        )
        : meters.length === 0 && (
          <p class="muted">
            Not seen on MQTT: calibrate it on the bench (<code>deno task agent calibrate … --unit {unitId}</code>, or an
            agent run with <code>--port … --profile … --server …</code> offers its meters here).
          </p>
        )}
      <p>
        <a href={`/units/${encodeURIComponent(unitId)}/calibration`}>calibration history</a>{" "}
        (<a href={`/api/units/${encodeURIComponent(unitId)}/calibrations.csv`}>CSV</a>,{" "}
        <a href={`/api/units/${encodeURIComponent(unitId)}/calibrations`}>JSON</a>)
      </p>
    </>
  );
}
