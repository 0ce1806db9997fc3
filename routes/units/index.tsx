/** Inventory: every unit with filters, and the rework audit ("which units have the RN8209C off?"). */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import {
  type ComponentState,
  createUnit,
  listUnits,
  type ReworkEntry,
  reworksBy,
  type Unit,
  UnitConflictError,
  type UnitFilter,
  UnitInputError,
  unitsWithComponentState,
} from "../../server/inventory/units.ts";
import {
  getUnitPresence,
  listUnitPresence,
  type PresenceView,
  presenceView,
  type UnitPresence,
} from "../../server/openbeken/presence.ts";
import { PRESENCE_HEADERS, PresenceCells } from "../../components/UnitPresence.tsx";
import { actorOf } from "../../server/auth/actor.ts";
import { csrfTokenOf } from "../../server/auth/middleware.ts";
import { inventoryStockView } from "../../server/stock-config/store.ts";
import { StockConfigCell } from "../../components/StockConfig.tsx";

/** Units per page: the page's size does not grow with the fleet. */
export const UNITS_PER_PAGE = 100;

interface Data {
  filter: UnitFilter;
  /** this page of the matching units */
  units: Unit[];
  /** how many units match the filter, and where this page starts */
  matched: number;
  offset: number;
  /** live presence per unit id, from the one presence view */
  presence: Record<string, PresenceView>;
  /** unit id → product key from its stock backup, and what differs from units of the same product */
  stock: Map<string, { productKey: string | null; differs: string[] }>;
  /** product-key filter (from the stock backups) */
  pk: string;
  audit: { component: string; state: ComponentState; unitIds: string[] };
  /** OpenBeken units seen on MQTT that inventory does not know yet */
  unregistered: UnitPresence[];
  /** "which units were reworked by whom" */
  who: { name: string; entries: ReworkEntry[] } | null;
  message?: string;
  csrf: string;
}

const STATES: ComponentState[] = ["off", "on", "cut", "jumpered"];

async function load(kv: Deno.Kv, url: URL, csrf: string, now: number, message?: string): Promise<Data> {
  const q = url.searchParams;
  const filter: UnitFilter = {};
  for (const k of ["model", "site", "tag", "chip", "firmware", "q"] as const) {
    const v = q.get(k)?.trim();
    if (v) filter[k] = v.slice(0, 80);
  }
  const component = (q.get("component") ?? "RN8209C").slice(0, 40) || "RN8209C";
  const state = (STATES.includes(q.get("state") as ComponentState) ? q.get("state") : "off") as ComponentState;
  const audit = await unitsWithComponentState(kv, component, state);
  const all = await listUnits(kv, {});
  const known = new Set(all.flatMap((u) => [u.topic, u.mac]).filter(Boolean));
  const seen = await listUnitPresence(kv);
  const unregistered = seen.filter((p) => !known.has(p.topic) && !(p.mac && known.has(p.mac)));
  const pk = q.get("pk")?.trim().slice(0, 40) ?? "";
  let units = Object.keys(filter).length ? await listUnits(kv, filter) : all;
  const stock = await inventoryStockView(kv, units);
  if (pk) units = units.filter((u) => stock.get(u.id)?.productKey === pk);
  const matched = units.length;
  const asked = Number(q.get("offset") ?? 0);
  const offset = Number.isInteger(asked) && asked > 0 && asked < matched ? asked - (asked % UNITS_PER_PAGE) : 0;
  units = units.slice(offset, offset + UNITS_PER_PAGE);
  // a unit's presence by its topic, else by the MAC it reports (as presenceOfUnit does, without a read per unit)
  const byTopic = new Map(seen.map((p) => [p.topic, p]));
  const byMac = new Map(seen.filter((p) => p.mac).map((p) => [p.mac!, p]));
  const presence = Object.fromEntries(units.map((u) => {
    const p = (u.topic ? byTopic.get(u.topic) : undefined) ?? (u.mac ? byMac.get(u.mac) : undefined) ?? null;
    return [u.id, presenceView(p, u, now)];
  }));
  return {
    filter,
    units,
    matched,
    offset,
    presence,
    stock,
    pk,
    audit: { component, state, unitIds: audit.map((a) => a.unitId) },
    unregistered,
    who: q.get("who")?.trim()
      ? { name: q.get("who")!.trim().slice(0, 60), entries: await reworksBy(kv, q.get("who")!.trim().slice(0, 60)) }
      : null,
    message,
    csrf,
  };
}

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    return ctx.render(await load(ctx.server.kv, ctx.url, csrfTokenOf(ctx.req), ctx.server.clock.now()));
  },
  /** "Add to inventory" for a unit seen on MQTT */
  async POST(ctx) {
    const form = await ctx.req.formData().catch(() => new FormData());
    const topic = String(form.get("adopt") ?? "");
    const p = topic ? await getUnitPresence(ctx.server.kv, topic) : null;
    if (!p) {
      return ctx.render(
        await load(
          ctx.server.kv,
          ctx.url,
          csrfTokenOf(ctx.req),
          ctx.server.clock.now(),
          `no OpenBeken unit ${topic} has been seen`,
        ),
        { status: 400 },
      );
    }
    try {
      const u = await createUnit(
        ctx.server.kv,
        {
          topic: p.topic,
          mac: p.mac && p.mac.length === 17 ? p.mac : null,
          chip: p.chip,
          tags: [],
        },
        { by: actorOf(ctx.req), reason: "adopted from MQTT", now: ctx.server.clock.now() },
        {
          action: "unit.adopt",
          details: { topic: p.topic },
        },
      );
      return new Response(null, { status: 303, headers: { location: `/units/${u.id}` } });
    } catch (e) {
      if (!(e instanceof UnitInputError || e instanceof UnitConflictError)) throw e;
      return ctx.render(
        await load(ctx.server.kv, ctx.url, csrfTokenOf(ctx.req), ctx.server.clock.now(), `not added: ${e.message}`),
        {
          status: 400,
        },
      );
    }
  },
};

export default function UnitsPage({ data, url }: PageProps<Data>) {
  const f = data.filter;
  const off = new Set(data.audit.unitIds);
  const auditQs = `component=${encodeURIComponent(data.audit.component)}&state=${data.audit.state}`;
  return (
    <>
      <h1>Inventory</h1>
      {data.message && <p class="badge warn" data-testid="message">{data.message}</p>}
      {data.unregistered.length > 0 && (
        <>
          <h2>Seen on MQTT, not in inventory</h2>
          <div class="table-wrap" role="region" aria-label="Units seen on MQTT, not in inventory" tabIndex={0}>
            <table data-testid="unregistered">
              <thead>
                <tr>
                  <th>Topic</th>
                  <th>MAC</th>
                  <th>Chip</th>
                  <th>Version</th>
                  <th>Status</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {data.unregistered.map((p) => (
                  <tr>
                    <td>{p.topic}</td>
                    <td>
                      <code>{p.mac ?? "–"}</code>
                    </td>
                    <td>{p.chip ?? "–"}</td>
                    <td>{p.version ?? "–"}</td>
                    <td>{p.online ? "online" : "offline"}</td>
                    <td>
                      <form method="post">
                        <input type="hidden" name="_csrf" value={data.csrf} />
                        <input type="hidden" name="adopt" value={p.topic} />
                        <button type="submit">Add to inventory</button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <form method="get" class="filters">
        {(["q", "model", "site", "tag", "chip", "firmware"] as const).map((k) => (
          <label>
            {k === "q" ? "search" : k} <input name={k} value={f[k] ?? ""} size={12} />
          </label>
        ))}
        <label>
          product key <input name="pk" value={data.pk} size={16} />
        </label>
        <input type="hidden" name="component" value={data.audit.component} />
        <input type="hidden" name="state" value={data.audit.state} />
        <button type="submit">Filter</button> <a href="/units">clear</a>
      </form>
      <h2>Rework audit</h2>
      <form method="get" class="filters" data-testid="audit-form">
        <label>
          component <input name="component" value={data.audit.component} size={10} />
        </label>
        <label>
          state{" "}
          <select name="state">
            {STATES.map((s) => (
              <option value={s} selected={s === data.audit.state}>
                {s === "off" ? "off (desoldered, not resoldered)" : s}
              </option>
            ))}
          </select>
        </label>
        <label>
          reworked by <input name="who" value={data.who?.name ?? ""} size={8} />
        </label>
        <button type="submit">Show</button>
      </form>
      {data.who && (
        <div class="table-wrap" role="region" aria-label="Rework by person" tabIndex={0}>
          <table data-testid="rework-by">
            <thead>
              <tr>
                <th>When</th>
                <th>Unit</th>
                <th>Component</th>
                <th>Action</th>
                <th>Reason</th>
                <th>Bench</th>
              </tr>
            </thead>
            <tbody>
              {data.who.entries.map((r) => (
                <tr>
                  <td>{new Date(r.at).toISOString().slice(0, 16).replace("T", " ")}</td>
                  <td>
                    <a href={`/units/${r.unitId}`}>{r.unitId}</a>
                  </td>
                  <td>{r.component}</td>
                  <td>{r.action}</td>
                  <td>{r.reason}</td>
                  <td>{r.benchHost ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p data-testid="audit-result">
        <b>{data.audit.unitIds.length}</b> unit(s) with {data.audit.component} {data.audit.state}
        {data.audit.unitIds.length > 0 && (
          <>: {data.audit.unitIds.map((id) => <a key={id} href={`/units/${id}`}>{id}</a>)}</>
        )}
        {" · "}
        <a href={`/api/rework/audit?${auditQs}&format=csv`}>CSV</a> ·{" "}
        <a href="/api/rework.csv">full rework log (CSV)</a> · <a href="/api/audit.csv">action audit log (CSV)</a>
      </p>
      <h2>{data.matched} unit(s)</h2>
      <div class="table-wrap" role="region" aria-label="Units" tabIndex={0}>
        <table data-testid="units">
          <thead>
            <tr>
              <th>Unit</th>
              <th>Model</th>
              <th>Chip</th>
              <th>MAC</th>
              <th>Topic</th>
              <th>Site / location</th>
              <th>Tags</th>
              <th>Rework</th>
              <th>Stock config</th>
              {PRESENCE_HEADERS.map((h) => <th key={h}>{h}</th>)}
            </tr>
          </thead>
          <tbody>
            {data.units.map((u) => (
              <tr data-unit={u.id}>
                <td>
                  <a href={`/units/${u.id}`}>{u.id}</a>
                </td>
                <td>{u.model ?? "–"}</td>
                <td>{u.chip ?? "–"}{u.module ? ` / ${u.module}` : ""}</td>
                <td>
                  <code>{u.mac ?? "–"}</code>
                </td>
                <td>
                  {data.presence[u.id]?.topic
                    ? (
                      <a href={`/meters/${encodeURIComponent(data.presence[u.id].topic!)}`}>
                        {data.presence[u.id].topic}
                      </a>
                    )
                    : u.topic ?? "–"}
                </td>
                <td>{[u.site, u.location, u.circuit].filter(Boolean).join(" / ") || "–"}</td>
                <td>{u.tags.join(", ")}</td>
                <td>
                  {u.reworkCount}
                  {off.has(u.id) ? <span class="badge warn">{data.audit.component} {data.audit.state}</span> : ""}
                </td>
                <td>
                  <StockConfigCell view={data.stock.get(u.id)} />
                </td>
                <PresenceCells v={data.presence[u.id]} />
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <UnitPager matched={data.matched} offset={data.offset} shown={data.units.length} url={url} />
    </>
  );
}

/** Previous / next links that keep the filters; plain links, so they work without JavaScript. */
function UnitPager({ matched, offset, shown, url }: { matched: number; offset: number; shown: number; url: URL }) {
  if (matched <= UNITS_PER_PAGE) return null;
  const at = (o: number) => {
    const q = new URLSearchParams(url.search);
    if (o > 0) q.set("offset", String(o));
    else q.delete("offset");
    return `/units${q.size ? `?${q}` : ""}`;
  };
  return (
    <nav class="pager" data-testid="units-pager" aria-label="Unit pages">
      {offset > 0 ? <a class="btn" href={at(Math.max(0, offset - UNITS_PER_PAGE))}>← previous</a> : null}
      <span data-testid="units-range">{offset + 1}–{offset + shown} of {matched}</span>
      {offset + shown < matched ? <a class="btn" href={at(offset + UNITS_PER_PAGE)}>next →</a> : null}
    </nav>
  );
}
