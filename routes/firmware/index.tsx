/** Firmware registry: every artefact with what was verified, and an upload form. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { type Firmware, FirmwareRejected, listFirmware, registerFirmware } from "../../server/db/firmware.ts";
import { parseUpload } from "../../server/api/firmware.ts";
import { actorOf, csrfTokenOf } from "../../server/auth/middleware.ts";
import FirmwareRegistry from "../../islands/FirmwareRegistry.tsx";

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
      <FirmwareRegistry csrf={data.csrf} firmware={data.firmware} message={data.message} ok={data.ok} />
      <p class="muted">
        OTA takes <code>Open&lt;chip&gt;_&lt;version&gt;.rbl</code>{" "}
        packages only (header magic, announced size and both CRCs are checked on upload: a truncated or corrupted file
        is refused). <code>_QIO_</code>/<code>_UA_</code> UART images are kept for the bench flasher; Tuya{" "}
        <code>_UG_</code> images are refused. From a script: <code>deno task admin upload-firmware &lt;file&gt;</code>.
      </p>
    </>
  );
}
