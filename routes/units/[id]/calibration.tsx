/** One unit's calibration history: every bench and deployed calibration, newest first. */
import type { PageProps, RouteHandler } from "../../../server/web/pages.ts";
import { type CalibrationEntry, calibrationHistory } from "../../../server/calibration/store.ts";

interface Data {
  unitId: string;
  history: CalibrationEntry[];
}

export const handler: RouteHandler<Data> = async (ctx) => {
  const history = await calibrationHistory(ctx.server.kv, ctx.params.id);
  return ctx.render({ unitId: ctx.params.id, history: history.reverse() });
};

const f = (x: number | undefined | null, d: number) => (x === undefined || x === null ? "—" : x.toFixed(d));
const pct = (x: number | undefined) => (x === undefined ? "—" : `${x >= 0 ? "+" : ""}${x.toFixed(2)} %`);

export default function CalibrationPage({ data }: PageProps<Data>) {
  return (
    <>
      <h1>
        Calibration of unit <code>{data.unitId}</code>
      </h1>
      {data.history.length === 0 ? <p class="muted">This unit has never been calibrated.</p> : (
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>When</th>
              <th>Who</th>
              <th>Mode</th>
              <th>Chip</th>
              <th>Reference V / A / W</th>
              <th>Raw V / I / P</th>
              <th>Factors V / I / P</th>
              <th>Error before (P)</th>
              <th>Error after (P)</th>
              <th>Bench / topic</th>
            </tr>
          </thead>
          <tbody>
            {data.history.map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>{new Date(e.at).toISOString().replace("T", " ").slice(0, 19)}</td>
                <td>{e.by}</td>
                <td>{e.mode}</td>
                <td>{e.chip ?? "—"}{e.kind ? ` (${e.kind})` : ""}</td>
                <td>{f(e.reference.voltage, 1)} / {f(e.reference.current, 3)} / {f(e.reference.power, 1)}</td>
                <td>{e.raw ? `${f(e.raw.voltage, 0)} / ${f(e.raw.current, 2)} / ${f(e.raw.power, 0)}` : "—"}</td>
                <td>
                  {e.factors
                    ? `${e.factors.voltage.toPrecision(6)} / ${e.factors.current.toPrecision(6)} / ${
                      e.factors.power.toPrecision(6)
                    }`
                    : e.commands.join("; ")}
                </td>
                <td>{pct(e.errorBeforePct?.power)}</td>
                <td>{pct(e.errorAfterPct?.power)}</td>
                <td>{e.benchHost ?? e.topic ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="muted">
        API: <code>GET/POST /api/units/{data.unitId}/calibrations</code>,{" "}
        <code>POST /api/units/{data.unitId}/calibrations/apply</code>
      </p>
    </>
  );
}
