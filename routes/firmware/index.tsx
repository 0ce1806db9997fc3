/** Firmware registry: every artefact with what was verified, and an upload form. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { type Firmware, FirmwareRejected, listFirmware, registerFirmware } from "../../server/db/firmware.ts";
import { parseUpload } from "../../server/api/firmware.ts";
import { csrfTokenOf } from "../../server/auth/middleware.ts";
import { actorOf } from "../../server/auth/actor.ts";

interface Data {
  firmware: Firmware[];
  message?: string;
  ok?: boolean;
  csrf: string;
}

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    return ctx.render({ firmware: await listFirmware(ctx.app.kv), csrf: csrfTokenOf(ctx.req) });
  },
  async POST(ctx) {
    const up = await parseUpload(ctx.req);
    let message: string, ok = false, status = 200;
    if ("error" in up) {
      message = up.error;
      status = up.status;
    } else {
      try {
        const r = await registerFirmware(ctx.app.kv, { ...up, by: actorOf(ctx.req), now: ctx.app.clock.now() });
        message = r.existed
          ? `${r.firmware.filename} was already registered`
          : `registered ${r.firmware.filename} (${r.firmware.kind}, ${r.firmware.platform} ${r.firmware.version})`;
        ok = true;
      } catch (e) {
        if (!(e instanceof FirmwareRejected)) throw e;
        message = `refused: ${e.message}`;
        status = 422;
      }
    }
    return ctx.render({ firmware: await listFirmware(ctx.app.kv), message, ok, csrf: csrfTokenOf(ctx.req) }, {
      status,
    });
  },
};

export default function FirmwarePage({ data }: PageProps<Data>) {
  return (
    <>
      <h1>Firmware</h1>
      {data.message && <p class={data.ok ? "badge" : "badge warn"} data-testid="message">{data.message}</p>}
      <form method="post" enctype="multipart/form-data" class="filters">
        <input type="hidden" name="_csrf" value={data.csrf} />
        <label>
          file <input type="file" name="file" accept=".rbl,.bin" required />
        </label>
        <label>
          platform <input name="platform" placeholder="from the name" size={9} />
        </label>
        <label>
          version <input name="version" placeholder="from the name" size={9} />
        </label>
        <label>
          notes <input name="notes" size={20} />
        </label>
        <button type="submit">Upload</button>
      </form>
      <p class="muted">
        OTA takes <code>Open&lt;chip&gt;_&lt;version&gt;.rbl</code>{" "}
        packages only (header magic and both CRCs are checked on upload).
        <code>_QIO_</code>/<code>_UA_</code> UART images are kept for the bench flasher; Tuya <code>_UG_</code>{" "}
        images are refused.
      </p>
      <table data-testid="firmware">
        <thead>
          <tr>
            <th>File</th>
            <th>Kind</th>
            <th>Platform</th>
            <th>Version</th>
            <th>RBL header</th>
            <th class="num">Size</th>
            <th>sha256</th>
            <th>Uploaded</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {data.firmware.map((f) => (
            <tr>
              <td>{f.filename}</td>
              <td>{f.kind}{f.otaAllowed ? "" : <span class="badge warn">not for OTA</span>}</td>
              <td>{f.platform}</td>
              <td>{f.version}</td>
              <td>
                {f.rbl
                  ? `${f.rbl.name} ${f.rbl.version}, ${f.rbl.compression}/${f.rbl.encryption}, raw ${f.rbl.rawSize} B`
                  : "–"}
              </td>
              <td class="num">{f.size}</td>
              <td>
                <code title={f.sha256}>{f.sha256.slice(0, 12)}…</code>
              </td>
              <td>{new Date(f.uploadedAt).toISOString().slice(0, 16).replace("T", " ")} by {f.uploadedBy}</td>
              <td>
                <a href={`/fw/${f.sha256}/${encodeURIComponent(f.filename)}`}>download</a>
                {f.otaAllowed && (
                  <>
                    · <a href={`/rollouts?firmware=${f.id}`}>roll out</a>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
