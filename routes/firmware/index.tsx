/** Firmware registry: every artefact with what was verified, and an upload form. */
import type { PageProps, RouteContext, RouteHandler } from "../../server/web/pages.ts";
import { type Firmware, FirmwareRejected, listFirmware, registerFirmware } from "../../server/firmware/store.ts";
import { parseUpload } from "../../server/firmware/api.ts";
import { actorOf, csrfTokenOf } from "../../server/auth/middleware.ts";
import FirmwareRegistry from "../../islands/FirmwareRegistry.tsx";

interface Data {
  firmware: Firmware[];
  message?: string;
  ok?: boolean;
  csrf: string;
  now: number;
  zoneName: string;
}

const common = (ctx: RouteContext<Data>) => ({
  csrf: csrfTokenOf(ctx.req),
  now: ctx.server.clock.now(),
  zoneName: ctx.server.config.zone.name,
});

export const handler: RouteHandler<Data> = {
  async GET(ctx) {
    return ctx.render({ firmware: await listFirmware(ctx.server.kv), ...common(ctx) });
  },
  async POST(ctx) {
    const up = await parseUpload(ctx.req);
    let message: string, ok = false, status = 200;
    if ("error" in up) {
      message = up.error;
      status = up.status;
    } else {
      try {
        const r = await registerFirmware(ctx.server.kv, { ...up, by: actorOf(ctx.req), now: ctx.server.clock.now() });
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
    return ctx.render({ firmware: await listFirmware(ctx.server.kv), message, ok, ...common(ctx) }, { status });
  },
};

export default function FirmwarePage({ data }: PageProps<Data>) {
  return (
    <>
      <div class="page-head">
        <h1>Firmware</h1>
        <a class="btn" href="/rollouts">Rollouts</a>
      </div>
      <FirmwareRegistry
        csrf={data.csrf}
        firmware={data.firmware}
        message={data.message}
        ok={data.ok}
        now={data.now}
        zoneName={data.zoneName}
      />
      <p class="muted small">
        OTA takes <code>Open&lt;chip&gt;_&lt;version&gt;.rbl</code>{" "}
        packages only (header magic, announced size and both CRCs are checked on upload: a truncated or corrupted file
        is refused). <code>_QIO_</code>/<code>_UA_</code> UART images are kept for the bench flasher; Tuya{" "}
        <code>_UG_</code> images are refused. From a script: <code>deno task admin upload-firmware &lt;file&gt;</code>.
      </p>
    </>
  );
}
