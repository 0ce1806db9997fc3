/**
 * HTTP OTA delivery to one OpenBeken unit (openbeken.md §3.1): `GET /api/info` (is this the unit we mean, and
 * its chip), `POST /api/ota` with the raw RBL, `POST /api/reboot`. Every OpenBeken /api/ call needs HTTP Basic
 * auth as user `admin` once the unit has a web password (src/httpserver/http_basic_auth.c, rest_interface.c
 * registers /api/ with auth required); the password comes sealed from server/inventory/unit_secrets.ts.
 *
 * Only the unit's own address: the host is the ip the unit itself reported over MQTT (presence), never one an
 * operator types; an inventory `httpAddress` may only name the port on that host (a simulator, a port forward).
 */
import type { Rollout } from "./store.ts";
import { ObkHttpError, obkRequest, type ObkResponse } from "./obk_http.ts";

export class HttpDeliveryError extends Error {
  override name = "HttpDeliveryError";
}

/** host and port to reach the unit at: its reported ip, with the port of `httpAddress` when that names the same host */
export function unitHttpTarget(reportedIp: string | null, httpAddress: string | null): { host: string; port: number } {
  if (!reportedIp) throw new HttpDeliveryError("the unit has not reported its ip over MQTT: no address to send to");
  if (!httpAddress) return { host: reportedIp, port: 80 };
  const m = /^(?:http:\/\/)?(\[[^\]]+\]|[^:/\s]+)(?::(\d{1,5}))?\/?$/.exec(httpAddress.trim());
  if (!m) throw new HttpDeliveryError(`httpAddress ${JSON.stringify(httpAddress)} is not host[:port]`);
  if (m[1] !== reportedIp) {
    throw new HttpDeliveryError(
      `httpAddress ${httpAddress} is not at the ip the unit reports (${reportedIp}): not sent`,
    );
  }
  const port = m[2] ? Number(m[2]) : 80;
  if (!(port >= 1 && port <= 65535)) throw new HttpDeliveryError(`httpAddress ${httpAddress}: bad port`);
  return { host: reportedIp, port };
}

export interface HttpOtaSteps {
  /** the upload is about to start (device → downloading) */
  uploading(note: string): Promise<void>;
}

function refused401(password: string | null, what: string): never {
  throw new HttpDeliveryError(
    password
      ? `${what}: the unit refused the stored web password (401)`
      : `${what}: the unit asks for a web password (401) and none is stored for this unit`,
  );
}

function jsonOf(res: ObkResponse, what: string): Record<string, unknown> {
  try {
    return JSON.parse(new TextDecoder().decode(res.body));
  } catch {
    throw new HttpDeliveryError(`${what} answered ${res.status} with no JSON`);
  }
}

export async function deliverOverHttp(o: {
  rollout: Rollout;
  topic: string;
  target: { host: string; port: number };
  password: string | null;
  image: Uint8Array;
  steps: HttpOtaSteps;
  timeouts?: { infoMs?: number; uploadMs?: number };
}): Promise<void> {
  const { host, port } = o.target;
  const call = async (method: "GET" | "POST", path: string, timeoutMs: number, body?: Uint8Array) => {
    try {
      const res = await obkRequest({ host, port, method, path, body, password: o.password, timeoutMs });
      if (res.status === 401) refused401(o.password, `${method} ${path}`);
      return res;
    } catch (e) {
      if (e instanceof ObkHttpError) throw new HttpDeliveryError(e.message);
      throw e;
    }
  };
  const infoMs = o.timeouts?.infoMs ?? 10_000;
  const info = await call("GET", "/api/info", infoMs);
  if (info.status !== 200) throw new HttpDeliveryError(`GET /api/info answered ${info.status}`);
  const i = jsonOf(info, "GET /api/info");
  if (i.mqtttopic !== o.topic) {
    throw new HttpDeliveryError(`${host}:${port} is unit ${String(i.mqtttopic)}, not ${o.topic}: not sent`);
  }
  const chip = String(i.chipset ?? "").toUpperCase();
  if (chip !== o.rollout.platform) {
    throw new HttpDeliveryError(
      `the unit reports chipset ${chip || "(none)"} over HTTP, the image is for ${o.rollout.platform}: not sent`,
    );
  }
  await o.steps.uploading(`POST http://${host}:${port}/api/ota (${o.image.length} bytes)`);
  const up = await call("POST", "/api/ota", o.timeouts?.uploadMs ?? 120_000, o.image);
  if (up.status !== 200) {
    throw new HttpDeliveryError(
      `POST /api/ota answered ${up.status}: ${new TextDecoder().decode(up.body).slice(0, 100)}`,
    );
  }
  const written = Number(jsonOf(up, "POST /api/ota").size);
  if (written !== o.image.length) {
    throw new HttpDeliveryError(`POST /api/ota wrote ${written} of ${o.image.length} bytes (wrong size)`);
  }
  const rb = await call("POST", "/api/reboot", infoMs, new Uint8Array());
  if (rb.status !== 200) throw new HttpDeliveryError(`POST /api/reboot answered ${rb.status}`);
}
