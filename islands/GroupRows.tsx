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

/** The numeric fields of a row, with what a screen reader calls each. */
const NUMBER_FIELDS = [["percent", "percent"], ["success", "success threshold"], ["error", "error threshold"]] as const;

const blank = (): GroupRow => ({ name: "", percent: "", success: "80", error: "10" });

export default function GroupRows({ initial }: { initial: GroupRow[] }) {
  const [rows, setRows] = useState(initial);
  const [live, setLive] = useState(false);
  useEffect(() => setLive(true), []);
  const set = (i: number, k: keyof GroupRow, v: string) =>
    setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const total = rows.reduce((s, r) => s + (r.name.trim() ? Number(r.percent) || 0 : 0), 0);
  // checked as typed (the server checks again): a named row needs numbers; shares must add up to 100
  const bad = (r: GroupRow, k: "percent" | "success" | "error") => {
    if (!live || !r.name.trim()) return false;
    const v = r[k].trim();
    const n = Number(v);
    return k === "percent" ? v === "" || !Number.isFinite(n) || n <= 0 || n > 100 : v !== "" && !(n >= 0 && n <= 100);
  };
  const totalOff = live && rows.some((r) => r.name.trim()) && Math.abs(total - 100) >= 0.01;
  const invalid = (r: GroupRow, k: "percent" | "success" | "error") => (bad(r, k) ? "true" as const : undefined);
  return (
    <div class="stack">
      <div class="table-wrap" role="region" aria-label="Groups, in the order they run" tabIndex={0}>
        <table data-testid="group-rows">
          <thead>
            <tr>
              <th>Group</th>
              <th class="num">Share %</th>
              <th class="num">Success ≥ %</th>
              <th class="num">Error &gt; %</th>
              <th>
                <span class="visually-hidden">Actions</span>
              </th>
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
                {NUMBER_FIELDS.map(([k, label]) => (
                  <td class="num" key={k}>
                    <input
                      name={`group_${k}`}
                      value={r[k]}
                      size={4}
                      inputMode="decimal"
                      aria-label={`group ${i + 1} ${label}`}
                      aria-invalid={invalid(r, k)}
                      onInput={(e) => set(i, k, (e.target as HTMLInputElement).value)}
                    />
                  </td>
                ))}
                <td>
                  {live && rows.length > 1 && (
                    <button
                      type="button"
                      class="small"
                      onClick={() => setRows(rows.filter((_, j) => j !== i))}
                      aria-label={r.name.trim() ? `Remove group ${r.name.trim()}` : undefined}
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <td>
                {live && (
                  <button type="button" class="small" onClick={() => setRows([...rows, blank()])}>Add group</button>
                )}
              </td>
              <td class="num" data-testid="group-total">{live ? `${total} %` : ""}</td>
              <td colSpan={3}></td>
            </tr>
          </tfoot>
        </table>
      </div>
      {totalOff && (
        <p class="field-error" role="alert" data-testid="group-total-error">
          The shares add up to {total} %, not 100 %.
        </p>
      )}
      <p class="small muted">
        Groups run in order: the next starts when this one reaches its success threshold (% verified); more failures
        than the error threshold (% failed) pause the rollout. Shares add up to 100; a row without a name is ignored.
      </p>
    </div>
  );
}
