/**
 * Rollouts: the list, and the form that creates one. The form works without JavaScript: "Preview" shows the
 * units the rollout would update (count, list, chip and version mix, online/offline) and only then offers
 * "Start", which creates the rollout. Groups are rows (name, share, success and error thresholds).
 */
import type { PageProps, RouteContext, RouteHandler } from "../../server/web/pages.ts";
import { type Firmware, listFirmware } from "../../server/firmware/store.ts";
import { listRollouts, type Rollout, RolloutInputError } from "../../server/ota/store.ts";
import { createRolloutFrom, previewRolloutFrom } from "../../server/ota/api.ts";
import type { RolloutPreview } from "../../server/ota/preview.ts";
import { actorOf, csrfTokenOf } from "../../server/auth/middleware.ts";
import GroupRows, { type GroupRow } from "../../islands/GroupRows.tsx";
import { ProgressBar } from "../../islands/RolloutLive.tsx";
import { progressOfCounts, ROLLOUT_BADGE } from "../../shared/ota.ts";
import type { Zone } from "../../shared/zone.ts";
import { Badge, EmptyState, fieldAria, FormRow, Num, RelativeTime, TableWrap } from "../../components/ui.tsx";

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
  /** minutes a unit may take to report its chip (its build) before it is skipped, never commanded */
  chipTimeoutMin: string;
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
  zone: Zone;
  now: number;
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
    chipTimeoutMin: "",
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
    chipTimeoutMin: s("chipTimeoutMin"),
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
    chipTimeoutMs: v.chipTimeoutMin ? Math.round(num(v.chipTimeoutMin, "chip timeout") * 60_000) : undefined,
    delivery: v.delivery,
    startAt,
    window: v.windowStart && v.windowEnd ? { start: v.windowStart, end: v.windowEnd, timeZone: opt(v.timeZone) } : null,
    baseUrl: opt(v.baseUrl),
  };
}

async function pageData(ctx: RouteContext<Data>) {
  return {
    rollouts: await listRollouts(ctx.server.kv),
    firmware: (await listFirmware(ctx.server.kv)).filter((f) => f.otaAllowed),
    csrf: csrfTokenOf(ctx.req),
    zoneName: ctx.server.config.zone.name,
    zone: ctx.server.config.zone,
    now: ctx.server.clock.now(),
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
      const p = await previewRolloutFrom(ctx.server.kv, body);
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
        ctx.server.kv,
        body,
        ctx.server.clock.now(),
        ctx.url.origin,
        ctx.server.config.zone,
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

/** The form field a refusal is about ("group early share: …" → the groups), so the page shows it there too. */
export function fieldOfError(message: string): keyof FormValues | null {
  const m = message.trim();
  if (/^name\b/.test(m)) return "name";
  if (/^(firmwareId\b|no such firmware|\S+ is a \S+ image)/.test(m)) return "firmwareId";
  const filter = /^filter\.(model|site|tag|fromVersion)\b/.exec(m);
  if (filter) return filter[1] as keyof FormValues;
  if (/^groups?\b/.test(m)) return "groups";
  if (/^pacing/.test(m)) return "pacingPerMin";
  if (/^(chip timeout|chipTimeoutMs)\b/.test(m)) return "chipTimeoutMin";
  if (/^delivery\b/.test(m)) return "delivery";
  if (/^(start at|startAt)\b/.test(m)) return "startAt";
  if (/^window\.timeZone|^window: /.test(m)) return "timeZone";
  if (/^window\.end\b/.test(m)) return "windowEnd";
  if (/^(window\b|bad time)/.test(m)) return "windowStart";
  if (/^baseUrl\b/.test(m)) return "baseUrl";
  return null;
}

/** Each refused field with its messages (a message may hold several, joined by "; "). */
function fieldErrors(message: string | undefined): Partial<Record<keyof FormValues, string>> {
  const out: Partial<Record<keyof FormValues, string>> = {};
  for (const part of (message ?? "").split("; ")) {
    const f = fieldOfError(part);
    if (f) out[f] = out[f] ? `${out[f]}; ${part}` : part;
  }
  return out;
}

const mix = (m: Record<string, number>) =>
  Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} × ${k}`).join(", ");

function Preview({ p, now, zone }: { p: RolloutPreview; now: number; zone: Zone }) {
  return (
    <section data-testid="preview" class="stack">
      <h3>
        <span data-testid="preview-count">{p.count}</span> units get {p.firmware.filename}
      </h3>
      <div class="cards">
        <div class="card stat">
          <div class="label">Online</div>
          <div class="value num">{p.online}</div>
        </div>
        <div class="card stat">
          <div class="label">Offline</div>
          <div class="value num">{p.offline}</div>
        </div>
        <div class="card stat">
          <div class="label">Never seen</div>
          <div class="value num">{p.neverSeen}</div>
        </div>
      </div>
      <p>
        <span data-testid="preview-presence">
          {p.online} online, {p.offline} offline, {p.neverSeen} never seen
        </span>
        {p.offline + p.neverSeen > 0 && " (offline units are updated when they come back)"}
        <br />
        Groups: {p.groups.map((g) => `${g.name} ${g.size}`).join(" · ")}
        <br />
        Chip: <span data-testid="preview-chips">{mix(p.chips)}</span> · version:{" "}
        <span data-testid="preview-versions">{mix(p.versions)}</span>
        <br />
        <span class="muted">
          Not included: {p.excluded.wrongPlatform} of another chip, {p.excluded.alreadyCurrent} already on{" "}
          {p.firmware.version}, {p.excluded.noTopic} without an MQTT topic
        </span>
      </p>
      {p.units.length > 0 && (
        <TableWrap label="Units this rollout would update">
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
                  <td class="nowrap">
                    <a href={`/units/${encodeURIComponent(u.unitId)}`}>{u.unitId}</a>
                  </td>
                  <td class="mono">{u.topic}</td>
                  <td>{u.group}</td>
                  <td>
                    {u.reportedChip ?? u.chip ?? "?"}{" "}
                    {u.reportedChip && u.chip && u.reportedChip !== u.chip && (
                      <Badge status="warn">inventory says {u.chip}</Badge>
                    )}
                    {!u.reportedChip && <span class="muted">(not reported yet)</span>}
                  </td>
                  <td>{u.version ?? "?"}</td>
                  <td>
                    <Badge status={u.online ? "online" : "offline"} />
                  </td>
                  <td class="nowrap">
                    {u.lastSeen ? <RelativeTime ts={u.lastSeen} now={now} zone={zone} /> : "never"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {p.units.length > 500 && <p class="muted">{p.units.length - 500} more not listed.</p>}
    </section>
  );
}

function RolloutList({ rollouts, now, zone }: { rollouts: Rollout[]; now: number; zone: Zone }) {
  if (rollouts.length === 0) {
    return (
      <EmptyState title="No rollout yet">
        <p>Pick an image, filter the units and press Preview in the form below; nothing is sent before Start.</p>
      </EmptyState>
    );
  }
  return (
    <TableWrap label="Rollouts">
      <table data-testid="rollouts">
        <thead>
          <tr>
            <th>Rollout</th>
            <th>Firmware</th>
            <th>Status</th>
            <th>Progress</th>
            <th class="num">Verified</th>
            <th class="num">Failed</th>
            <th class="num">Targets</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {rollouts.map((r) => (
            <tr key={r.id}>
              <td style={{ minWidth: "10rem" }}>
                <a href={`/rollouts/${r.id}`}>{r.name}</a>
              </td>
              <td>
                <a href={`/firmware#fw-${r.firmwareId}`}>{r.filename}</a>
              </td>
              <td>
                <span class={`badge ${ROLLOUT_BADGE[r.status] ?? "info"}`}>{r.status}</span>
                {r.pauseReason ? <div class="small muted">{r.pauseReason}</div> : null}
              </td>
              <td style={{ minWidth: "8rem" }}>
                <ProgressBar p={progressOfCounts(r.counts)} label={`Rollout ${r.name}`} testid="rollout-progress" />
              </td>
              <td class="num">
                <Num value={r.counts.verified} />
              </td>
              <td class="num">
                <Num value={r.counts.failed + r.counts.timed_out} />
              </td>
              <td class="num">
                <Num value={r.total} />
              </td>
              <td class="nowrap">
                <RelativeTime ts={r.createdAt} now={now} zone={zone} /> <span class="muted">by {r.createdBy}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

export default function RolloutsPage({ data }: PageProps<Data>) {
  const v = data.values;
  const p = data.preview;
  const err = fieldErrors(data.message);
  const text = (
    id: keyof FormValues,
    label: string,
    help?: string,
    extra: Record<string, unknown> = {},
  ) => (
    <FormRow id={`f-${id}`} label={label} help={help} error={err[id]}>
      <input
        id={`f-${id}`}
        name={id}
        value={v[id] as string}
        {...fieldAria(`f-${id}`, help, err[id])}
        {...extra}
      />
    </FormRow>
  );
  return (
    <>
      <div class="page-head">
        <h1>OTA rollouts</h1>
        <a class="btn" href="/firmware">Firmware images</a>
      </div>
      {data.message && <p class="notice error" role="alert" data-testid="message">{data.message}</p>}
      <RolloutList rollouts={data.rollouts} now={data.now} zone={data.zone} />
      <h2 id="new">New rollout</h2>
      {data.firmware.length === 0
        ? (
          <EmptyState title="No image to roll out">
            <p>
              Upload an RBL package on the <a href="/firmware">firmware</a> page first.
            </p>
          </EmptyState>
        )
        : (
          <form method="post" class="wizard" data-testid="rollout-form" aria-labelledby="new">
            <input type="hidden" name="_csrf" value={data.csrf} />
            <fieldset class="step">
              <legend>Firmware</legend>
              <div class="fields">
                {text("name", "Rollout name", "shown in the list and the audit log", { required: true, maxLength: 80 })}
                <FormRow
                  id="f-firmwareId"
                  label="Image"
                  help="only RBL packages can go over the air"
                  error={err.firmwareId}
                >
                  <select
                    id="f-firmwareId"
                    name="firmwareId"
                    {...fieldAria("f-firmwareId", true, err.firmwareId)}
                  >
                    {data.firmware.map((f) => (
                      <option key={f.id} value={f.id} selected={f.id === v.firmwareId}>
                        {f.filename} ({f.platform} {f.version})
                      </option>
                    ))}
                  </select>
                </FormRow>
              </div>
            </fieldset>
            <fieldset class="step">
              <legend>Targets</legend>
              <p class="small muted">
                Units of the image's chip that match every filter given; blank = any. Units already on the image's
                version are left out.
              </p>
              <div class="fields">
                {text("model", "Model", "inventory model")}
                {text("site", "Site")}
                {text("tag", "Tag")}
                {text("fromVersion", "Current version", "only units reporting this version")}
              </div>
            </fieldset>
            <fieldset class="step" aria-describedby={err.groups ? "f-groups-error" : undefined}>
              <legend>Groups</legend>
              {err.groups && <p class="field-error" id="f-groups-error" role="alert">{err.groups}</p>}
              <GroupRows initial={[...v.groups, { name: "", percent: "", success: "80", error: "10" }]} />
            </fieldset>
            <fieldset class="step">
              <legend>Schedule and window</legend>
              <div class="fields">
                {text("pacingPerMin", "Pacing (devices/min)", "how many units are commanded per minute", {
                  inputMode: "decimal",
                })}
                {text(
                  "chipTimeoutMin",
                  "Chip report timeout (min)",
                  "a unit that has not reported its build (so its chip) by then is skipped, never commanded; blank = 2",
                  { inputMode: "decimal", placeholder: "2" },
                )}
                <FormRow id="f-delivery" label="Delivery" error={err.delivery}>
                  <select id="f-delivery" name="delivery" {...fieldAria("f-delivery", false, err.delivery)}>
                    <option value="mqtt" selected={v.delivery === "mqtt"}>MQTT ota_http (unit pulls)</option>
                    <option value="http" selected={v.delivery === "http"}>HTTP /api/ota + /api/reboot</option>
                  </select>
                </FormRow>
                {text("startAt", "Start at", "ISO date and time; blank = when Start is pressed", {
                  placeholder: "2026-12-24T22:00Z",
                })}
                {text("windowStart", "Window from", "daily maintenance window, HH:MM; blank = any time", {
                  placeholder: "22:00",
                })}
                {text("windowEnd", "Window until", "HH:MM (may cross midnight)", { placeholder: "05:00" })}
                {text("timeZone", "Window time zone", `IANA name; blank = ${data.zoneName}`, {
                  placeholder: data.zoneName,
                })}
                {text(
                  "baseUrl",
                  "Image base URL",
                  "plain http://host:port reachable by the units; blank = this page's origin",
                )}
              </div>
            </fieldset>
            <fieldset class="step">
              <legend>Preview</legend>
              {p
                ? <Preview p={p} now={data.now} zone={data.zone} />
                : <p class="muted">See which units the rollout would update before anything is sent.</p>}
              {p && <input type="hidden" name="previewed" value={p.stamp} />}
              <div class="actions">
                <button type="submit" name="step" value="preview" class={p ? "ghost" : undefined}>
                  {p ? "Preview again" : "Preview targets"}
                </button>
              </div>
            </fieldset>
            <fieldset class="step">
              <legend>Start</legend>
              <div class="actions">
                {p && p.count > 0 && (
                  <button type="submit" name="step" value="start" data-testid="start">
                    Start rollout to {p.count} units
                  </button>
                )}
                {p && p.count === 0 && <Badge status="warn">no unit matches: nothing to start</Badge>}
                {!p && <span class="muted">Preview the targets first; Start appears with the preview.</span>}
              </div>
            </fieldset>
          </form>
        )}
    </>
  );
}
