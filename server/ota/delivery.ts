/**
 * Getting an OTA command to an OpenBeken unit (openbeken.md §3.1):
 * - MQTT: `cmnd/<topic>/ota_http <url>`; the unit pulls the RBL over plain
 *   HTTP from the OTA responder (./responder.ts) and reboots by itself.
 * - HTTP: `POST /api/ota` with the raw RBL as the body (not multipart), then
 *   `POST /api/reboot` — OBK does not reboot after /api/ota on its own.
 * Device states downloading/rebooting are set by the OTA responder (MQTT)
 * or here (HTTP).
 */
import type { Logger } from "../../shared/log.ts";
import type { Clock } from "../../shared/clock.ts";
import { getBlob } from "../db/blobs.ts";
import { getOtaUrlToken, type OtaDevice, type Rollout, transitionDeviceFresh } from "../db/ota.ts";
import { getUnit } from "../db/units.ts";
import type { ServerMqtt } from "../mqtt.ts";
import type { OtaDelivery } from "./engine.ts";
import type { PresenceSource } from "./presence.ts";
import { otaPath } from "./responder.ts";

/**
 * The per-command download URL: the OTA responder's origin (OTA_HTTP_URL, else the rollout's base URL
 * host on the responder's port) and a path naming the rollout, the unit and the command's secret.
 */
export function firmwareUrl(
  r: Rollout,
  d: OtaDevice,
  token: string,
  ota: { port: number; url: string | null },
): string {
  const origin = ota.url ?? `http://${new URL(r.baseUrl).hostname}:${ota.port}`;
  return origin + otaPath(r.id, d.unitId, token, r.filename);
}

export function createDelivery(deps: {
  kv: Deno.Kv;
  mqtt: ServerMqtt;
  presence: PresenceSource;
  log: Logger;
  clock: Clock;
  /** where the OTA responder listens (port) and, when set, the origin units reach it at */
  ota: { port: number; url: string | null };
}): OtaDelivery & { drain(): Promise<void> } {
  const background = new Set<Promise<void>>();
  const httpOta = async (r: Rollout, d: OtaDevice, addr: string) => {
    const base = /^https?:\/\//.test(addr) ? addr.replace(/\/$/, "") : `http://${addr}`;
    const now = () => deps.clock.now();
    const image = await getBlob(deps.kv, r.firmwareSha);
    if (!image) throw new Error(`firmware blob ${r.firmwareSha} missing`);
    await transitionDeviceFresh(deps.kv, r.id, d.unitId, ["commanded"], "downloading", {
      now: now(),
      note: `POST ${base}/api/ota`,
    });
    const up = await fetch(`${base}/api/ota`, {
      method: "POST",
      body: image as Uint8Array<ArrayBuffer>,
      signal: AbortSignal.timeout(120_000),
    });
    const text = await up.text();
    if (!up.ok) throw new Error(`/api/ota answered ${up.status}: ${text.slice(0, 100)}`);
    const written = Number((JSON.parse(text) as { size?: number }).size);
    if (written !== image.length) throw new Error(`/api/ota wrote ${written} of ${image.length} bytes`);
    const rb = await fetch(`${base}/api/reboot`, { method: "POST", body: "", signal: AbortSignal.timeout(10_000) });
    await rb.body?.cancel();
    if (!rb.ok) throw new Error(`/api/reboot answered ${rb.status}`);
    await transitionDeviceFresh(deps.kv, r.id, d.unitId, ["downloading"], "rebooting", {
      now: now(),
      note: "uploaded, reboot requested",
    });
  };
  return {
    async send(r, d) {
      if (r.delivery === "mqtt") {
        const tok = await getOtaUrlToken(deps.kv, r.id, d.unitId);
        if (!tok || tok.attempt !== d.attempts) throw new Error("no download secret for this command");
        await deps.mqtt.publish(`cmnd/${d.topic}/ota_http`, firmwareUrl(r, d, tok.token, deps.ota), { qos: 1 });
        return;
      }
      const unit = await getUnit(deps.kv, d.unitId);
      const ip = unit?.httpAddress ?? (await deps.presence.load([d.topic])).get(d.topic)?.ip;
      if (!ip) throw new Error("no HTTP address known for this unit (set httpAddress or wait for its ip)");
      const p = httpOta(r, d, ip).catch(async (e) => {
        deps.log.warn("HTTP OTA failed", { unit: d.unitId, err: e });
        await transitionDeviceFresh(deps.kv, r.id, d.unitId, ["commanded", "downloading"], "failed", {
          now: deps.clock.now(),
          audit: true,
          error: `HTTP delivery failed: ${e instanceof Error ? e.message : e}`,
        });
      }).finally(() => background.delete(p));
      background.add(p);
    },
    async drain() {
      while (background.size) await Promise.allSettled([...background]);
    },
  };
}
