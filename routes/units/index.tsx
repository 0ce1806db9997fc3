/** Inventory: every unit with filters, and the rework audit ("which units have the RN8209C off?"). */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { type ComponentState, listUnits, type Unit, type UnitFilter, unitsWithComponentState } from "../../server/db/units.ts";

interface Data {
  filter: UnitFilter;
  units: Unit[];
  audit: { component: string; state: ComponentState; unitIds: string[] };
}

const STATES: ComponentState[] = ["off", "on", "cut", "jumpered"];

export const handler: RouteHandler<Data> = async (ctx) => {
  const q = ctx.url.searchParams;
  const filter: UnitFilter = {};
  for (const k of ["model", "site", "tag", "chip", "firmware", "q"] as const) {
    const v = q.get(k)?.trim();
    if (v) filter[k] = v.slice(0, 80);
  }
  const component = (q.get("component") ?? "RN8209C").slice(0, 40) || "RN8209C";
  const state = (STATES.includes(q.get("state") as ComponentState) ? q.get("state") : "off") as ComponentState;
  const audit = await unitsWithComponentState(ctx.app.kv, component, state);
  return ctx.render({ filter, units: await listUnits(ctx.app.kv, filter), audit: { component, state, unitIds: audit.map((a) => a.unitId) } });
};

export default function UnitsPage({ data }: PageProps<Data>) {
  const f = data.filter;
  const off = new Set(data.audit.unitIds);
  const auditQs = `component=${encodeURIComponent(data.audit.component)}&state=${data.audit.state}`;
  return (
    <>
      <h1>Inventory</h1>
      <form method="get" class="filters">
        {(["q", "model", "site", "tag", "chip", "firmware"] as const).map((k) => (
          <label>
            {k === "q" ? "search" : k} <input name={k} value={f[k] ?? ""} size={12} />
          </label>
        ))}
        <input type="hidden" name="component" value={data.audit.component} />
        <input type="hidden" name="state" value={data.audit.state} />
        <button type="submit">Filter</button> <a href="/units">clear</a>
      </form>
      <h2>Rework audit</h2>
      <form method="get" class="filters" data-testid="audit-form">
        <label>component <input name="component" value={data.audit.component} size={10} /></label>
        <label>
          state{" "}
          <select name="state">
            {STATES.map((s) => <option value={s} selected={s === data.audit.state}>{s === "off" ? "off (desoldered, not resoldered)" : s}</option>)}
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      <p data-testid="audit-result">
        <b>{data.audit.unitIds.length}</b> unit(s) with {data.audit.component} {data.audit.state}
        {data.audit.unitIds.length > 0 && <>: {data.audit.unitIds.map((id) => <a href={`/units/${id}`}> {id}</a>)}</>}
        {" · "}<a href={`/api/rework/audit?${auditQs}&format=csv`}>CSV</a> · <a href="/api/rework.csv">full rework log (CSV)</a> ·{" "}
        <a href="/api/audit.csv">action audit log (CSV)</a>
      </p>
      <h2>{data.units.length} unit(s)</h2>
      <table data-testid="units">
        <thead>
          <tr>
            <th>Unit</th><th>Model</th><th>Chip</th><th>MAC</th><th>Topic</th><th>Site / location</th><th>Tags</th><th>Firmware</th><th>Rework</th><th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {data.units.map((u) => (
            <tr data-unit={u.id}>
              <td><a href={`/units/${u.id}`}>{u.id}</a></td>
              <td>{u.model ?? "–"}</td>
              <td>{u.chip ?? "–"}{u.module ? ` / ${u.module}` : ""}</td>
              <td><code>{u.mac ?? "–"}</code></td>
              <td>{u.topic ?? "–"}</td>
              <td>{[u.site, u.location, u.circuit].filter(Boolean).join(" / ") || "–"}</td>
              <td>{u.tags.join(", ")}</td>
              <td>{u.firmwareReported ?? "–"}</td>
              <td>{u.reworkCount}{off.has(u.id) ? <span class="badge warn"> {data.audit.component} {data.audit.state}</span> : ""}</td>
              <td>{u.lastSeen ? new Date(u.lastSeen).toISOString().replace("T", " ").slice(0, 19) : "never"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
