/**
 * The rollout form's groups, one row each (name, percent, success and error thresholds). Works as plain form
 * fields (`group_name`, `group_percent`, `group_success`, `group_error`, repeated; a row with no name is
 * ignored, so the page always offers one spare); with JavaScript, rows can be added and removed.
 */
import { useEffect, useState } from "preact/hooks";

export interface GroupRow {
  name: string;
  percent: string;
  success: string;
  error: string;
}

const blank = (): GroupRow => ({ name: "", percent: "", success: "80", error: "10" });

export default function GroupRows({ initial }: { initial: GroupRow[] }) {
  const [rows, setRows] = useState(initial);
  const [live, setLive] = useState(false);
  useEffect(() => setLive(true), []);
  const set = (i: number, k: keyof GroupRow, v: string) =>
    setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const total = rows.reduce((s, r) => s + (r.name.trim() ? Number(r.percent) || 0 : 0), 0);
  return (
    <table data-testid="group-rows">
      <thead>
        <tr>
          <th>Group</th>
          <th class="num">Share %</th>
          <th class="num">Success ≥ %</th>
          <th class="num">Error &gt; %</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <td>
              <input
                name="group_name"
                value={r.name}
                size={10}
                aria-label={`group ${i + 1} name`}
                onInput={(e) => set(i, "name", (e.target as HTMLInputElement).value)}
              />
            </td>
            <td>
              <input
                name="group_percent"
                value={r.percent}
                size={4}
                inputMode="decimal"
                aria-label={`group ${i + 1} percent`}
                onInput={(e) => set(i, "percent", (e.target as HTMLInputElement).value)}
              />
            </td>
            <td>
              <input
                name="group_success"
                value={r.success}
                size={4}
                inputMode="decimal"
                aria-label={`group ${i + 1} success threshold`}
                onInput={(e) => set(i, "success", (e.target as HTMLInputElement).value)}
              />
            </td>
            <td>
              <input
                name="group_error"
                value={r.error}
                size={4}
                inputMode="decimal"
                aria-label={`group ${i + 1} error threshold`}
                onInput={(e) => set(i, "error", (e.target as HTMLInputElement).value)}
              />
            </td>
            <td>
              {live && rows.length > 1 && (
                <button type="button" onClick={() => setRows(rows.filter((_, j) => j !== i))}>Remove</button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td>{live && <button type="button" onClick={() => setRows([...rows, blank()])}>Add group</button>}</td>
          <td class="num" data-testid="group-total">{live ? `${total} %` : ""}</td>
          <td colSpan={3} class="muted">
            shares add up to 100; a row without a name is ignored. The next group starts when this one reaches its
            success threshold; more failures than the error threshold pause the rollout.
          </td>
        </tr>
      </tfoot>
    </table>
  );
}
