/**
 * Rollouts: the list, and the form that creates one. The form works without JavaScript: "Preview" shows the
 * units the rollout would update (count, list, chip and version mix, online/offline) and only then offers
 * "Start", which creates the rollout. Groups are rows (name, share, success and error thresholds).
 */
import type { PageProps, RouteContext, RouteHandler } from "../../server/web/pages.ts";
import { type Firmware, listFirmware } from "../../server/db/firmware.ts";
import { listRollouts, type Rollout, RolloutInputError } from "../../server/db/ota.ts";
import { createRolloutFrom, previewRolloutFrom } from "../../server/api/rollouts.ts";
import type { RolloutPreview } from "../../server/ota/preview.ts";
import { actorOf, csrfTokenOf } from "../../server/auth/middleware.ts";
import GroupRows, { type GroupRow } from "../../islands/GroupRows.tsx";

/** The form's fields as typed, so a preview or an error shows them again unchanged. */
interface FormValues {
  name: string;
  firmwareId: string;
  model: string;
  site: string;
  tag: string;
  fromVersion: string;
  groups: GroupRow[];
  pacingPerMin: string;
  delivery: string;
  startAt: string;
  windowStart: string;
  windowEnd: string;
  timeZone: string;
  baseUrl: string;
}

interface Data {
  rollouts: Rollout[];
  firmware: Firmware[];
  values: FormValues;
  /** with the fingerprint of its target list, which the Start button carries back */
  preview?: RolloutPreview & { stamp: string };
  message?: string;
  csrf: string;
  /** the installation's zone: a window without its own zone is in this one */
  zoneName: string;
}

export const DEFAULT_GROUPS: GroupRow[] = [
  { name: "canary", percent: "5", success: "100", error: "0" },
  { name: "early", percent: "25", success: "80", error: "10" },
  { name: "rest", percent: "70", success: "80", error: "10" },
];

function emptyValues(firmwareId: string): FormValues {
  return {
    name: "",
    firmwareId,
    model: "",
    site: "",
    tag: "",
    fromVersion: "",
    groups: DEFAULT_GROUPS,
    pacingPerMin: "60",
    delivery: "mqtt",
    startAt: "",
    windowStart: "",
    windowEnd: "",
    timeZone: "",
    baseUrl: "",
  };
}

export function valuesFrom(form: FormData): FormValues {
  const s = (k: string) => String(form.get(k) ?? "").trim();
  const all = (k: string) => form.getAll(k).map((v) => String(v).trim());
  const [names, percents, successes, errors] = ["group_name", "group_percent", "group_success", "group_error"].map(
    all,
  );
  const groups = names.map((name, i) => ({
    name,
    percent: percents[i] ?? "",
    success: successes[i] ?? "",
    error: errors[i] ?? "",
  })).filter((g) => g.name);
  return {
    name: s("name"),
    firmwareId: s("firmwareId"),
    model: s("model"),
    site: s("site"),
    tag: s("tag"),
    fromVersion: s("fromVersion"),
    groups,
    pacingPerMin: s("pacingPerMin"),
    delivery: s("delivery") || "mqtt",
    startAt: s("startAt"),
    windowStart: s("windowStart"),
    windowEnd: s("windowEnd"),
    timeZone: s("timeZone"),
    baseUrl: s("baseUrl"),
  };
}

const num = (v: string, what: string) => {
  const n = Number(v);
  if (v === "" || !Number.isFinite(n)) throw new RolloutInputError(`${what}: a number, got ${JSON.stringify(v)}`);
  return n;
};

/** The API body the form stands for; bad numbers are refused with the field they came from. */
export function bodyFrom(v: FormValues) {
  const opt = (x: string) => x || undefined;
  if (v.groups.length === 0) throw new RolloutInputError("groups: give at least one group with a name");
  const startAt = v.startAt ? Date.parse(v.startAt) : undefined;
  if (startAt !== undefined && Number.isNaN(startAt)) throw new RolloutInputError(`start at: not a date: ${v.startAt}`);
  return {
    name: v.name,
    firmwareId: v.firmwareId,
    filter: { model: opt(v.model), site: opt(v.site), tag: opt(v.tag), fromVersion: opt(v.fromVersion) },
    groups: v.groups.map((g) => ({
      name: g.name,
      percent: num(g.percent, `group ${g.name} share`),
      successThreshold: num(g.success || "80", `group ${g.name} success threshold`),
      errorThreshold: num(g.error || "10", `group ${g.name} error threshold`),
    })),
    pacingPerMin: num(v.pacingPerMin || "60", "pacing"),
    delivery: v.delivery,
    startAt,
    window: v.windowStart && v.windowEnd ? { start: v.windowStart, end: v.windowEnd, timeZone: opt(v.timeZone) } : null,
    baseUrl: opt(v.baseUrl),
  };
}

async function pageData(ctx: RouteContext<Data>) {
  return {
    rollouts: await listRollouts(ctx.app.kv),
    firmware: (await listFirmware(ctx.app.kv)).filter((f) => f.otaAllowed),
    csrf: csrfTokenOf(ctx.req),
    zoneName: ctx.app.config.zone.name,
  };
}

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    const base = await pageData(ctx);
    const selected = ctx.url.searchParams.get("firmware") ?? base.firmware[0]?.id ?? "";
    return ctx.render({ ...base, values: emptyValues(selected) });
  },
  async POST(ctx) {
    const form = await ctx.req.formData().catch(() => new FormData());
    const values = valuesFrom(form);
    const step = String(form.get("step") ?? "preview");
    const base = await pageData(ctx);
    try {
      const body = bodyFrom(values);
      const p = await previewRolloutFrom(ctx.app.kv, body);
      const preview = { ...p, stamp: `${p.count}:${await digest(p.units.map((u) => u.unitId).join(","))}` };
      if (step !== "start") return ctx.render({ ...base, values, preview });
      if (preview.count === 0) {
        return ctx.render({ ...base, values, preview, message: "no unit matches: nothing to start" }, { status: 400 });
      }
      // Start is pressed on a preview; if the targets changed since, show the new preview instead of starting
      if (String(form.get("previewed") ?? "") !== preview.stamp) {
        return ctx.render({
          ...base,
          values,
          preview,
          message: "the target units changed since the preview: check them and press Start again",
        }, { status: 409 });
      }
      const r = await createRolloutFrom(
        ctx.app.kv,
        body,
        ctx.app.clock.now(),
        ctx.url.origin,
        ctx.app.config.zone,
        actorOf(ctx.req),
      );
      return new Response(null, { status: 303, headers: { location: `/rollouts/${r.id}` } });
    } catch (e) {
      if (!(e instanceof RolloutInputError)) throw e;
      return ctx.render({ ...base, values, message: e.message }, { status: 400 });
    }
  },
};

/** A short fingerprint of the previewed target list, carried by the Start button's form. */
async function digest(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return Array.from(d.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

const mix = (m: Record<string, number>) =>
  Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} × ${k}`).join(", ");
const ts = (t: number | null) => (t ? new Date(t).toISOString().slice(0, 16).replace("T", " ") : "never");

function Preview({ p }: { p: RolloutPreview }) {
  return (
    <section data-testid="preview">
      <h3>
        Preview: <span data-testid="preview-count">{p.count}</span> units get {p.firmware.filename}
      </h3>
      <p>
        Groups: {p.groups.map((g) => `${g.name} ${g.size}`).join(" · ")}
        <br />
        Chip: <span data-testid="preview-chips">{mix(p.chips)}</span> · version:{" "}
        <span data-testid="preview-versions">{mix(p.versions)}</span>
        <br />
        <span data-testid="preview-presence">
          {p.online} online, {p.offline} offline, {p.neverSeen} never seen
        </span>
        {p.offline + p.neverSeen > 0 && " (offline units are updated when they come back)"}
        <br />
        Not included: {p.excluded.wrongPlatform} of another chip, {p.excluded.alreadyCurrent} already on{" "}
        {p.firmware.version}, {p.excluded.noTopic} without an MQTT topic
      </p>
      <table data-testid="preview-units">
        <thead>
          <tr>
            <th>Unit</th>
            <th>Topic</th>
            <th>Group</th>
            <th>Chip</th>
            <th>Version</th>
            <th>Online</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {p.units.slice(0, 500).map((u) => (
            <tr key={u.unitId}>
              <td>
                <a href={`/units/${u.unitId}`}>{u.unitId}</a>
              </td>
              <td>{u.topic}</td>
              <td>{u.group}</td>
              <td>
                {u.reportedChip ?? u.chip ?? "?"}
                {u.reportedChip && u.chip && u.reportedChip !== u.chip && (
                  <span class="badge warn">inventory says {u.chip}</span>
                )}
                {!u.reportedChip && <span class="muted">(not reported yet)</span>}
              </td>
              <td>{u.version ?? "?"}</td>
              <td>{u.online ? "online" : "offline"}</td>
              <td>{ts(u.lastSeen)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.units.length > 500 && <p class="muted">{p.units.length - 500} more not listed.</p>}
    </section>
  );
}

export default function RolloutsPage({ data }: PageProps<Data>) {
  const v = data.values;
  const p = data.preview;
  return (
    <>
      <h1>OTA rollouts</h1>
      {data.message && <p class="badge warn" data-testid="message">{data.message}</p>}
      <table data-testid="rollouts">
        <thead>
          <tr>
            <th>Rollout</th>
            <th>Firmware</th>
            <th>Status</th>
            <th class="num">Verified</th>
            <th class="num">Failed</th>
            <th class="num">Targets</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {data.rollouts.map((r) => (
            <tr key={r.id}>
              <td>
                <a href={`/rollouts/${r.id}`}>{r.name}</a>
              </td>
              <td>{r.filename}</td>
              <td>{r.status}{r.pauseReason ? ` — ${r.pauseReason}` : ""}</td>
              <td class="num">{r.counts.verified}</td>
              <td class="num">{r.counts.failed + r.counts.timed_out}</td>
              <td class="num">{r.total}</td>
              <td>{new Date(r.createdAt).toISOString().slice(0, 16).replace("T", " ")} by {r.createdBy}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>New rollout</h2>
      {data.firmware.length === 0
        ? (
          <p class="muted">
            Upload an RBL package on the <a href="/firmware">firmware</a> page first.
          </p>
        )
        : (
          <form method="post" class="stack" data-testid="rollout-form">
            <input type="hidden" name="_csrf" value={data.csrf} />
            <label>
              name <input name="name" required size={24} value={v.name} />
            </label>
            <label>
              firmware{" "}
              <select name="firmwareId">
                {data.firmware.map((f) => (
                  <option key={f.id} value={f.id} selected={f.id === v.firmwareId}>
                    {f.filename} ({f.platform} {f.version})
                  </option>
                ))}
              </select>
            </label>
            <fieldset>
              <legend>targets (units of the firmware's platform; blank = any)</legend>
              <label>
                model <input name="model" size={10} value={v.model} />
              </label>{" "}
              <label>
                site <input name="site" size={10} value={v.site} />
              </label>{" "}
              <label>
                tag <input name="tag" size={10} value={v.tag} />
              </label>{" "}
              <label>
                current version <input name="fromVersion" size={10} value={v.fromVersion} />
              </label>
            </fieldset>
            <fieldset>
              <legend>groups</legend>
              <GroupRows initial={[...v.groups, { name: "", percent: "", success: "80", error: "10" }]} />
            </fieldset>
            <label>
              pacing (devices/min) <input name="pacingPerMin" value={v.pacingPerMin} size={5} />
            </label>{" "}
            <label>
              delivery{" "}
              <select name="delivery">
                <option value="mqtt" selected={v.delivery === "mqtt"}>MQTT ota_http (unit pulls)</option>
                <option value="http" selected={v.delivery === "http"}>HTTP /api/ota + /api/reboot</option>
              </select>
            </label>
            <label>
              start at (ISO, blank = when Start is pressed) <input name="startAt" size={22} value={v.startAt} />
            </label>
            <label>
              maintenance window <input name="windowStart" placeholder="22:00" size={5} value={v.windowStart} />–<input
                name="windowEnd"
                placeholder="05:00"
                size={5}
                value={v.windowEnd}
              />{" "}
              time zone <input name="timeZone" placeholder={data.zoneName} size={16} value={v.timeZone} />
            </label>
            <label>
              image base URL (plain http, reachable by the units; blank = this page's origin){" "}
              <input name="baseUrl" size={28} value={v.baseUrl} />
            </label>
            {p && <Preview p={p} />}
            {p && <input type="hidden" name="previewed" value={p.stamp} />}
            <p>
              <button type="submit" name="step" value="preview">{p ? "Preview again" : "Preview targets"}</button>{" "}
              {p && p.count > 0 && (
                <button type="submit" name="step" value="start" data-testid="start">
                  Start rollout to {p.count} units
                </button>
              )}
              {p && p.count === 0 && <span class="badge warn">no unit matches: nothing to start</span>}
            </p>
          </form>
        )}
    </>
  );
}
