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
import { getBlob } from "../kv/blobs.ts";
import { getOtaUrlToken, type OtaDevice, type Rollout, transitionDeviceFresh } from "./store.ts";
import { getUnit } from "../inventory/units.ts";
import type { ServerMqtt } from "../mqtt.ts";
import type { OtaDelivery } from "./engine.ts";
import type { PresenceSource } from "./presence.ts";
import { otaPath } from "./responder.ts";
import { openUnitWebPassword } from "../inventory/unit_secrets.ts";
import { deliverOverHttp, unitHttpTarget } from "./http_delivery.ts";

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
  /** the key unit web passwords are sealed with (server/auth/sealed.ts) */
  sealKey: () => Promise<CryptoKey>;
}): OtaDelivery & { drain(): Promise<void> } {
  const background = new Set<Promise<void>>();
  const httpOta = async (r: Rollout, d: OtaDevice) => {
    const now = () => deps.clock.now();
    const unit = await getUnit(deps.kv, d.unitId);
    const reported = (await deps.presence.load([d.topic])).get(d.topic)?.ip ?? null;
    const target = unitHttpTarget(reported, unit?.httpAddress ?? null);
    const password = await openUnitWebPassword(deps.kv, await deps.sealKey(), d.unitId);
    const image = await getBlob(deps.kv, r.firmwareSha);
    if (!image) throw new Error(`firmware blob ${r.firmwareSha} missing`);
    await deliverOverHttp({
      rollout: r,
      topic: d.topic,
      target,
      password,
      image,
      steps: {
        uploading: async (note) => {
          await transitionDeviceFresh(deps.kv, r.id, d.unitId, ["commanded"], "downloading", { now: now(), note });
        },
      },
    });
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
      const p = httpOta(r, d).catch(async (e) => {
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
