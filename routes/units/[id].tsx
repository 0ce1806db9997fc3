/** One unit: identity, live presence, firmware, backups, calibration, rework log (with a form), edit history, OTA history. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import {
  appendRework,
  getUnit,
  listRework,
  REWORK_ACTIONS,
  type ReworkEntry,
  type Unit,
  UnitConflictError,
  UnitInputError,
  type UnitRevision,
  unitRevisions,
  updateUnit,
} from "../../server/inventory/units.ts";
import { presenceOfUnit, type PresenceView, presenceView, type UnitPresence } from "../../server/openbeken/presence.ts";
import { DeviceLinks, uptimeText } from "../../components/UnitPresence.tsx";
import { type OtaDevice, type Rollout, unitOtaHistory } from "../../server/ota/store.ts";
import { actorOf, authOf, csrfTokenOf } from "../../server/auth/middleware.ts";
import { mayDownloadBackups } from "../../server/flash/backups_api.ts";
import { calibrateDeployedUnit, DeployedCalibrationError } from "../../server/calibration/deployed.ts";
import { benchCalibrationMessage, CalibrationForm, calibrationMessage } from "../../components/CalibrationForm.tsx";
import { RestoreForm } from "../../components/RestoreForm.tsx";
import { type FlashBench, listBenches } from "../../server/flash/jobs_store.ts";
import { calibrateAtBench, FlashJobError, startFlashJob } from "../../server/flash/jobs.ts";
import { sealingKey } from "../../server/auth/sealed.ts";
import {
  clearUnitWebPassword,
  setUnitWebPassword,
  UnitSecretInputError,
  unitWebPasswordInfo,
} from "../../server/inventory/unit_secrets.ts";
import { type StockConfig, stockConfigForUnit } from "../../server/stock-config/store.ts";
import { StockConfigSection } from "../../components/StockConfig.tsx";

interface Data {
  unit: Unit | null;
  presence: UnitPresence | null;
  /** live presence as every page shows it */
  view: PresenceView;
  /** connected bench agents a backup can be restored at */
  benches: FlashBench[];
  rework: ReworkEntry[];
  revisions: UnitRevision[];
  ota: { rollout: Rollout; device: OtaDevice }[];
  /** whether a web password is stored for HTTP OTA (never the password) */
  webPassword: { setAt: number; setBy: string } | null;
  stock: StockConfig | null;
  message?: string;
  csrf: string;
  /** operators and admins see backups' sha256 and a download link; viewers see that a backup is stored */
  canDownload: boolean;
  /** the signed-in user: the actor of what the forms write */
  me: string;
}

const ts = (t: number | null | undefined) => (t ? new Date(t).toISOString().replace("T", " ").slice(0, 19) : "–");

async function load(kv: Deno.Kv, id: string, req: Request, now: number, message?: string): Promise<Data> {
  const unit = await getUnit(kv, id);
  const p = authOf(req).principal;
  const presence = unit ? await presenceOfUnit(kv, unit) : null;
  return {
    canDownload: mayDownloadBackups(p),
    me: p?.kind === "user" ? p.username : "",
    unit,
    presence,
    view: presenceView(presence, unit, now),
    benches: unit ? await listBenches(kv) : [],
    rework: unit ? await listRework(kv, id) : [],
    revisions: unit ? await unitRevisions(kv, id) : [],
    ota: unit ? await unitOtaHistory(kv, id) : [],
    webPassword: unit ? await unitWebPasswordInfo(kv, id) : null,
    stock: unit ? await stockConfigForUnit(kv, unit) : null,
    message,
    csrf: csrfTokenOf(req),
  };
}

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    const d = await load(ctx.server.kv, ctx.params.id, ctx.req, ctx.server.clock.now());
    return ctx.render(d, { status: d.unit ? 200 : 404 });
  },
  /** the page's forms: log a rework step, edit placement fields, or store/remove the unit's web password */
  async POST(ctx) {
    const form = await ctx.req.formData().catch(() => null);
    const id = ctx.params.id;
    let message = "";
    try {
      if (!form) throw new UnitInputError("malformed form");
      const s = (k: string) => String(form.get(k) ?? "").trim();
      // who and when: the signed-in user and the server clock, never a form field
      const actor = actorOf(ctx.req);
      const now = ctx.server.clock.now();
      const onBehalfOf = s("onBehalfOf") || undefined;
      if (s("form") === "restore") {
        // one of this unit's backups, written back at a bench: a restore job to that bench agent
        const unit = await getUnit(ctx.server.kv, id);
        if (!unit) throw new UnitInputError(`no such unit ${id}`);
        const backup = s("backup");
        if (!unit.backups.some((b) => b.backupId === backup)) throw new UnitInputError("not a backup of this unit");
        const [agentId, ...port] = s("target").split(" ");
        try {
          const job = await startFlashJob(ctx.server, {
            agentId,
            kind: "restore",
            ports: [port.join(" ")],
            backupSha256: backup,
          }, actorOf(ctx.req));
          message = `restore job ${job.jobId} sent to ${agentId} (${job.ports[0]}): progress on /flash`;
        } catch (e) {
          if (e instanceof FlashJobError) throw new UnitInputError(e.message);
          throw e;
        }
      } else if (s("form") === "calibrate-bench") {
        // a chip meter on a bench port: the agent polling it measures the reference and stores the record
        const [agentId, ...port] = s("target").split(" ");
        const num = (k: string) => (s(k) === "" ? NaN : Number(s(k)));
        try {
          const { job, record } = await calibrateAtBench(ctx.server, {
            agentId,
            port: port.join(" "),
            unitId: id,
            reference: { voltage: num("volts"), current: num("amps"), power: num("watts") },
          }, actorOf(ctx.req));
          message = benchCalibrationMessage(record, job.jobId);
        } catch (e) {
          if (e instanceof FlashJobError) throw new UnitInputError(e.message);
          throw e;
        }
      } else if (s("form") === "calibrate") {
        // a deployed OpenBeken unit: VoltageSet/CurrentSet/PowerSet over MQTT, checked on its next readings;
        // who is the signed-in user, when is the server clock
        const unit = await getUnit(ctx.server.kv, id);
        if (!unit) throw new UnitInputError(`no such unit ${id}`);
        const num = (k: string) => (s(k) === "" ? NaN : Number(s(k)));
        const reference = { voltage: num("volts"), current: num("amps"), power: num("watts") };
        if (!Object.values(reference).every((x) => Number.isFinite(x) && x > 0)) {
          throw new UnitInputError(
            "reference volts, amps and watts: positive numbers, as the trusted meter reads them",
          );
        }
        try {
          const e = await calibrateDeployedUnit(
            ctx.server,
            unit,
            { reference, note: s("note") || undefined },
            actorOf(ctx.req),
          );
          message = calibrationMessage(e);
        } catch (e) {
          if (e instanceof DeployedCalibrationError) throw new UnitInputError(e.message);
          if ((e as { name?: string }).name === "CodecError") throw new UnitInputError((e as Error).message);
          throw e;
        }
      } else if (s("form") === "web-password") {
        if (s("clear")) {
          await clearUnitWebPassword(ctx.server.kv, id, { by: actor, now });
          message = "web password removed";
        } else {
          // not trimmed: a password may have spaces
          const key = await sealingKey({ dataDir: ctx.server.config.dataDir, env: ctx.server.config.secretsKey });
          await setUnitWebPassword(ctx.server.kv, key, id, String(form.get("webPassword") ?? ""), { by: actor, now });
          message = "web password stored (sealed; it is not shown again)";
        }
      } else if (s("form") === "rework") {
        const e = await appendRework(ctx.server.kv, id, {
          component: s("component"),
          action: s("action") as never,
          reason: s("reason"),
          who: actor,
          benchHost: s("benchHost") || undefined,
          photoNote: s("photoNote") || undefined,
          onBehalfOf,
          at: now,
        });
        message = `logged: ${e.component} ${e.action}`;
      } else {
        const opt = (k: string) => (s(k) === "" ? null : s(k));
        await updateUnit(ctx.server.kv, id, {
          site: opt("site"),
          location: opt("location"),
          circuit: opt("circuit"),
          topic: opt("topic"),
          model: opt("model"),
          tags: s("tags").split(",").map((t) => t.trim()).filter(Boolean),
        }, { by: actor, reason: s("reason"), onBehalfOf, now });
        message = "saved";
      }
    } catch (e) {
      if (!(e instanceof UnitInputError || e instanceof UnitConflictError || e instanceof UnitSecretInputError)) {
        throw e;
      }
      message = `not saved: ${e.message}`;
    }
    const d = await load(ctx.server.kv, id, ctx.req, ctx.server.clock.now(), message);
    return ctx.render(d, { status: d.unit ? (message.startsWith("not saved") ? 400 : 200) : 404 });
  },
};

export default function UnitPage({ data }: PageProps<Data>) {
  const u = data.unit;
  if (!u) {
    return (
      <>
        <h1>No such unit</h1>
        <p>
          <a href="/units">Inventory</a>
        </p>
      </>
    );
  }
  const p = data.presence;
  const v = data.view;
  return (
    <>
      <h1>
        Unit <code>{u.id}</code>
      </h1>
      {data.message && <p class="badge" data-testid="message">{data.message}</p>}
      {/* live presence and links: one view (server/openbeken/presence.ts presenceView) for cards, table and other pages */}
      <DeviceLinks unitId={u.id} meterId={p?.deviceId ?? null} here="unit" />
      <div class="cards">
        <div class="card">
          <div class="label">Status</div>
          <div class="value" style="font-size:1rem" data-presence-status>{v.status}</div>
        </div>
        <div class="card">
          <div class="label">Firmware</div>
          <div class="value" style="font-size:1rem" data-presence-version>{v.version ?? "–"}</div>
        </div>
        <div class="card">
          <div class="label">Power</div>
          <div class="value" style="font-size:1rem">{p?.live.power !== undefined ? `${p.live.power} W` : "–"}</div>
        </div>
        <div class="card">
          <div class="label">Voltage</div>
          <div class="value" style="font-size:1rem">{p?.live.voltage !== undefined ? `${p.live.voltage} V` : "–"}</div>
        </div>
        <div class="card">
          <div class="label">Energy</div>
          <div class="value" style="font-size:1rem">
            {p?.live.energyWh !== undefined ? `${(p.live.energyWh / 1000).toFixed(3)} kWh` : "–"}
          </div>
        </div>
      </div>
      <div class="table-wrap" role="region" aria-label="Unit details" tabIndex={0}>
        <table>
          <tbody>
            {([
              ["Model", u.model],
              ["Module / chip", `${u.module ?? "–"} / ${u.chip ?? "–"}`],
              ["MAC", u.mac],
              ["MQTT topic", u.topic ?? p?.topic ?? null],
              ["Metering chip", u.meteringChip],
              ["Site / location / circuit", [u.site, u.location, u.circuit].filter(Boolean).join(" / ")],
              ["Tags", u.tags.join(", ")],
              ["Firmware running / assigned", `${v.version ?? "–"} / ${u.firmwareAssigned ?? "–"}`],
              ["Flash id", u.flashId],
              ["IP / uptime", `${v.ip ?? "–"} / ${uptimeText(v.uptimeS)}${p ? `, ${p.reboots} reboot(s) seen` : ""}`],
              ["Last seen", <span key="seen" data-presence-seen>{v.lastSeen ? ts(v.lastSeen) : "never"}</span>],
            ] as const).map(([k, v]) => (
              <tr>
                <th>{k}</th>
                <td>{v || "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>Rework log</h2>
      <div class="table-wrap" role="region" aria-label="Rework log" tabIndex={0}>
        <table data-testid="rework">
          <thead>
            <tr>
              <th>#</th>
              <th>When</th>
              <th>Component</th>
              <th>Action</th>
              <th>Reason</th>
              <th>Who</th>
              <th>Bench</th>
              <th>Photo note</th>
            </tr>
          </thead>
          <tbody>
            {data.rework.length === 0 && (
              <tr>
                <td colSpan={8} class="muted">
                  No rework logged yet: record a desoldered, cut or jumpered part with the form below.
                </td>
              </tr>
            )}
            {data.rework.map((r) => (
              <tr>
                <td>{r.seq}</td>
                <td>{ts(r.at)}</td>
                <td>{r.component}</td>
                <td>{r.action}</td>
                <td>{r.reason}</td>
                <td>{r.who}{r.onBehalfOf ? <span class="muted">(for {r.onBehalfOf})</span> : null}</td>
                <td>{r.benchHost ?? ""}</td>
                <td>{r.photoNote ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form method="post" class="filters">
        <input type="hidden" name="_csrf" value={data.csrf} />
        <input type="hidden" name="form" value="rework" />
        <label>
          component <input name="component" value="RN8209C" size={10} required />
        </label>
        <label>
          action <select name="action">{REWORK_ACTIONS.map((a) => <option key={a}>{a}</option>)}</select>
        </label>
        <label>
          reason <input name="reason" size={24} />
        </label>
        <label>
          on behalf of <input name="onBehalfOf" size={8} placeholder="optional note" />
        </label>
        <span class="muted">logged as {data.me}</span>
        <label>
          bench <input name="benchHost" size={8} />
        </label>
        <label>
          photo note <input name="photoNote" size={14} />
        </label>
        <button type="submit">Log rework</button>
      </form>

      <h2>Placement</h2>
      <form method="post" class="filters">
        <input type="hidden" name="_csrf" value={data.csrf} />
        <input type="hidden" name="form" value="edit" />
        {(["site", "location", "circuit", "topic", "model"] as const).map((k) => (
          <label>
            {k} <input name={k} value={u[k] ?? ""} size={10} />
          </label>
        ))}
        <label>
          tags <input name="tags" value={u.tags.join(", ")} size={14} />
        </label>
        <label>
          on behalf of <input name="onBehalfOf" size={8} placeholder="optional note" />
        </label>
        <label>
          reason <input name="reason" size={14} />
        </label>
        <button type="submit">Save</button>
      </form>

      <h2>Flashing and backups</h2>
      <div class="table-wrap" role="region" aria-label="Flashing and backups" tabIndex={0}>
        <table>
          <thead>
            <tr>
              <th>When</th>
              <th>Job</th>
              <th>Bench</th>
              <th>Firmware written</th>
              <th>Backup</th>
              <th>Flash id</th>
            </tr>
          </thead>
          <tbody>
            {u.flashes.length === 0 && (
              <tr>
                <td colSpan={6} class="muted">
                  Never flashed by meterfleet: run a batch on a bench (the Flashing page) to back it up and flash it.
                </td>
              </tr>
            )}
            {u.flashes.map((f) => (
              <tr>
                <td>{ts(f.at)}</td>
                <td>{f.kind ?? "batch"}</td>
                <td>{f.benchHost}</td>
                <td>{f.firmware ?? "–"}</td>
                <td>
                  {!f.backupId ? "–" : data.canDownload
                    ? (
                      <a href={`/api/units/${u.id}/backups/${f.backupId}`} download>
                        <code>{f.backupId.slice(0, 12)}</code>
                      </a>
                    )
                    : "backup stored"}
                </td>
                <td>{f.flashId ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {u.backups.length > 0 && (
        <p data-testid="backups">
          Stored backups (the first is the stock firmware): {u.backups.map((b, i) => (
            <span key={`${i}`}>
              {i > 0 ? ", " : ""}
              {ts(b.at)} {data.canDownload
                ? (
                  <a href={`/api/units/${u.id}/backups/${b.backupId}`} download>
                    <code>{b.backupId.slice(0, 12)}</code>
                  </a>
                )
                : "backup stored"}
            </span>
          ))}
        </p>
      )}
      {/* restore at a bench: its own section (operators, who may handle backups) */}
      {data.canDownload && (
        <>
          <h3>Restore a backup at a bench</h3>
          <RestoreForm csrf={data.csrf} backups={u.backups} benches={data.benches} />
        </>
      )}
      <StockConfigSection config={data.stock} showSha={data.canDownload} />
      <h2>Calibration</h2>
      {/* calibration from the unit page: its own section (a form and the summary below) */}
      <CalibrationForm
        unitId={u.id}
        csrf={data.csrf}
        deployed={!!p}
        live={p?.live ?? null}
        meters={data.benches.filter((b) => b.online).flatMap((b) =>
          b.meters.map((m) => ({ agentId: b.agentId, port: m.port, profile: m.profile }))
        )}
      />
      {u.calibrations.length === 0
        ? <p class="muted">No calibration recorded.</p>
        : (
          <div class="table-wrap" role="region" aria-label="Calibrations" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th>When</th>
                  <th>By</th>
                  <th>V</th>
                  <th>A</th>
                  <th>W</th>
                  <th>Note</th>
                </tr>
              </thead>
              <tbody>
                {u.calibrations.map((c) => (
                  <tr>
                    <td>{ts(c.at)}</td>
                    <td>{c.by}</td>
                    <td>{c.voltage ?? ""}</td>
                    <td>{c.current ?? ""}</td>
                    <td>{c.power ?? ""}</td>
                    <td>{c.note ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      <h2>OTA history</h2>
      <form method="post" class="filters" data-testid="web-password">
        <input type="hidden" name="_csrf" value={data.csrf} />
        <input type="hidden" name="form" value="web-password" />
        <span>
          OpenBeken web password (HTTP OTA sends it as Basic auth, user admin):{" "}
          {data.webPassword ? `set by ${data.webPassword.setBy} at ${ts(data.webPassword.setAt)}` : "none"}
        </span>{" "}
        <label>
          new <input type="password" name="webPassword" autocomplete="new-password" maxLength={32} size={12} />
        </label>
        <button type="submit">Store</button>
        {data.webPassword && <button type="submit" name="clear" value="1">Remove</button>}
      </form>
      <div class="table-wrap" role="region" aria-label="OTA history" tabIndex={0}>
        <table>
          <thead>
            <tr>
              <th>Rollout</th>
              <th>Version</th>
              <th>State</th>
              <th>Attempts</th>
              <th>From</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {data.ota.map(({ rollout, device }) => (
              <tr>
                <td>
                  <a href={`/rollouts/${rollout.id}`}>{rollout.name}</a>
                </td>
                <td>{rollout.version}</td>
                <td>{device.state}</td>
                <td>{device.attempts}</td>
                <td>{device.fromVersion ?? "–"}</td>
                <td>{device.error ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Edit history</h2>
      <div class="table-wrap" role="region" aria-label="Edit history" tabIndex={0}>
        <table>
          <thead>
            <tr>
              <th>Rev</th>
              <th>When</th>
              <th>By</th>
              <th>Changed</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {data.revisions.map((r) => (
              <tr>
                <td>{r.rev}</td>
                <td>{ts(r.at)}</td>
                <td>{r.by}</td>
                <td>{r.changed.join(", ")}</td>
                <td>{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
