/** Rollouts: the list, and the form that creates one (targets by filter, groups, thresholds, pacing, window). */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { type Firmware, listFirmware } from "../../server/db/firmware.ts";
import { listRollouts, type Rollout, RolloutInputError } from "../../server/db/ota.ts";
import { createRolloutFrom } from "../../server/api/rollouts.ts";
import { actorOf } from "../../server/auth/actor.ts";
import { csrfTokenOf } from "../../server/auth/middleware.ts";

interface Data {
  rollouts: Rollout[];
  firmware: Firmware[];
  selected: string | null;
  message?: string;
  csrf: string;
  /** the installation's zone: a window without its own zone is in this one */
  zoneName: string;
}

/** "canary:5:100:0, early:25:80:10, rest:70:80:10" → groups */
export function parseGroups(text: string) {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((g) => {
    const [name, percent, successThreshold, errorThreshold] = g.split(":");
    return {
      name,
      percent: Number(percent),
      ...(successThreshold ? { successThreshold: Number(successThreshold) } : {}),
      ...(errorThreshold ? { errorThreshold: Number(errorThreshold) } : {}),
    };
  });
}

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    return ctx.render({
      rollouts: await listRollouts(ctx.app.kv),
      firmware: (await listFirmware(ctx.app.kv)).filter((f) => f.otaAllowed),
      selected: ctx.url.searchParams.get("firmware"),
      csrf: csrfTokenOf(ctx.req),
      zoneName: ctx.app.config.zone.name,
    });
  },
  async POST(ctx) {
    const form = await ctx.req.formData().catch(() => new FormData());
    const s = (k: string) => String(form.get(k) ?? "").trim();
    const opt = (k: string) => s(k) || undefined;
    const body = {
      name: s("name"),
      firmwareId: s("firmwareId"),
      filter: { model: opt("model"), site: opt("site"), tag: opt("tag"), fromVersion: opt("fromVersion") },
      groups: parseGroups(s("groups")),
      pacingPerMin: Number(s("pacingPerMin") || 60),
      delivery: s("delivery") || "mqtt",
      startAt: s("startAt") ? Date.parse(s("startAt")) : undefined,
      window: s("windowStart") && s("windowEnd")
        ? { start: s("windowStart"), end: s("windowEnd"), timeZone: opt("timeZone") }
        : null,
      baseUrl: opt("baseUrl"),
    };
    try {
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
      return ctx.render({
        rollouts: await listRollouts(ctx.app.kv),
        firmware: (await listFirmware(ctx.app.kv)).filter((f) => f.otaAllowed),
        selected: body.firmwareId,
        message: e.message,
        csrf: csrfTokenOf(ctx.req),
        zoneName: ctx.app.config.zone.name,
      }, { status: 400 });
    }
  },
};

export default function RolloutsPage({ data }: PageProps<Data>) {
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
            <tr>
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
          <form method="post" class="stack">
            <input type="hidden" name="_csrf" value={data.csrf} />
            <label>
              name <input name="name" required size={24} />
            </label>
            <label>
              firmware{" "}
              <select name="firmwareId">
                {data.firmware.map((f) => (
                  <option value={f.id} selected={f.id === data.selected}>
                    {f.filename} ({f.platform} {f.version})
                  </option>
                ))}
              </select>
            </label>
            <fieldset>
              <legend>targets (units of the firmware's platform; blank = any)</legend>
              <label>
                model <input name="model" size={10} />
              </label>{" "}
              <label>
                site <input name="site" size={10} />
              </label>{" "}
              <label>
                tag <input name="tag" size={10} />
              </label>{" "}
              <label>
                current version <input name="fromVersion" size={10} />
              </label>
            </fieldset>
            <label>
              groups (name:percent:success%:error%){" "}
              <input name="groups" size={50} value="canary:5:100:0, early:25:80:10, rest:70:80:10" />
            </label>
            <label>
              pacing (devices/min) <input name="pacingPerMin" value="60" size={5} />
            </label>{" "}
            <label>
              delivery{" "}
              <select name="delivery">
                <option value="mqtt">MQTT ota_http (unit pulls)</option>
                <option value="http">HTTP /api/ota + /api/reboot</option>
              </select>
            </label>
            <label>
              start at (ISO, blank = now) <input name="startAt" size={22} />
            </label>
            <label>
              maintenance window <input name="windowStart" placeholder="22:00" size={5} />–<input
                name="windowEnd"
                placeholder="05:00"
                size={5}
              />{" "}
              time zone <input name="timeZone" placeholder={data.zoneName} size={16} />
            </label>
            <label>
              image base URL (plain http, reachable by the units; blank = this page's origin){" "}
              <input name="baseUrl" size={28} />
            </label>
            <button type="submit">Create rollout</button>
          </form>
        )}
    </>
  );
}
