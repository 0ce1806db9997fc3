/** Shared setup for OTA tests: a test server with a fast rollout engine, simulated OpenBeken units registered in inventory. */
import { defaultExtensions } from "../../server/extensions.ts";
import { inventoryExtensions } from "../../server/inventory/extensions.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import { type ObkBehaviour, ObkSimFleet } from "../../edge-agent/sim/openbeken.ts";
import { buildFakeRbl, fakeRblName } from "../../edge-agent/sim/obk-image.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";
import type { OtaDevice, Rollout } from "../../server/ota/store.ts";

export const OLD = "1.18.299";
export const NEW = "1.18.300";

/** The default extensions, with the OTA engine ticking every `tickMs`. */
export function fastOtaExtensions(tickMs = 40) {
  const mine = inventoryExtensions({ tickMs });
  const names = new Set(mine.map((e) => e.name));
  return [...defaultExtensions().filter((e) => !names.has(e.name)), ...mine];
}

export async function startOtaServer(opts: TestServerOptions = {}): Promise<TestServer> {
  return await startTestServer({ extensions: fastOtaExtensions(), ...opts });
}

export async function startFleet(
  srv: TestServer,
  count: number,
  o: {
    behaviourOf?: (i: number) => ObkBehaviour;
    http?: boolean;
    bootMs?: number;
    firstIndex?: number;
    chip?: "BK7231N" | "BK7231T";
    /** the units' OpenBeken web password (every /api/ call then needs Basic auth) */
    webPassword?: string;
  } = {},
) {
  return await ObkSimFleet.start({
    count,
    brokerUrl: srv.brokerUrl,
    credentials: (t) => srv.deviceCredentials(t),
    version: OLD,
    chip: o.chip,
    bootMs: o.bootMs ?? 20,
    rebootDelayMs: 0,
    http: o.http,
    webPassword: o.webPassword,
    firstIndex: o.firstIndex,
    behaviourOf: o.behaviourOf,
  });
}

export async function json<T = unknown>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  const body = await r.json();
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${JSON.stringify(body)}`);
  return body as T;
}

/** Register every sim unit in inventory (as an operator would) and wait until ingest has seen each with its version. */
export async function registerFleet(
  srv: TestServer,
  fleet: ObkSimFleet,
  extra: Record<string, unknown> = {},
  waitOnline = true,
) {
  for (const u of fleet.units) {
    await json(srv.api("/api/units", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        mac: u.mac,
        chip: u.chip,
        topic: u.topic,
        model: "zmai-90",
        site: "plant-1",
        ...extra,
      }),
    }));
  }
  if (!waitOnline) return;
  await waitFor(async () => {
    for (const u of fleet.units) {
      if (u.behaviour === "offline") continue;
      const p = await getUnitPresence(srv.kv, u.topic);
      if (!p?.online || p.version !== u.version || p.bootedAt === null) return false;
    }
    return true;
  }, { what: "every simulated unit online with its version in presence", timeoutMs: 30_000 });
}

/** Unit id of a simulated unit in inventory. */
export async function unitIdOf(srv: TestServer, topic: string): Promise<string> {
  const found = await json<{ id: string; topic: string }[]>(srv.api(`/api/units?q=${topic}`));
  return found.find((u) => u.topic === topic)!.id;
}

/**
 * HTTP delivery reaches a unit at the ip it reports (all simulators say 127.0.0.1); each simulator listens on its
 * own port, which inventory's httpAddress names (or `address(i)` instead, to test refusals).
 */
export async function pointHttpAt(srv: TestServer, fleet: ObkSimFleet, address?: (i: number) => string) {
  for (const [i, u] of fleet.units.entries()) {
    await json(srv.api(`/api/units/${await unitIdOf(srv, u.topic)}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ httpAddress: address?.(i) ?? `127.0.0.1:${u.httpPort}`, reason: "sim port" }),
    }));
  }
}

/** Store a unit's web password the way an operator does (PUT, sealed, never returned). */
export async function setWebPassword(srv: TestServer, topic: string, password: string) {
  const res = await srv.api(`/api/units/${await unitIdOf(srv, topic)}/web-password`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ password }),
  });
  if (res.status !== 204) throw new Error(`web password: HTTP ${res.status} ${await res.text()}`);
}

export async function uploadFirmware(srv: TestServer, version = NEW, chip = "BK7231N") {
  const img = buildFakeRbl({ chip, version, size: 8192 });
  return await json<{ id: string; sha256: string }>(srv.api(`/api/firmware?filename=${fakeRblName(chip, version)}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: img as Uint8Array<ArrayBuffer>,
  }));
}

export async function createRollout(srv: TestServer, body: Record<string, unknown>) {
  return await json<Rollout>(srv.api("/api/rollouts", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "test rollout", baseUrl: srv.url, verifyTimeoutMs: 20_000, ...body }),
  }));
}

/** The usual start of a rollout test: the units in inventory, the new image uploaded, a rollout of it created. */
export async function rolloutOver(srv: TestServer, fleet: ObkSimFleet, body: Record<string, unknown>) {
  await registerFleet(srv, fleet);
  const fw = await uploadFirmware(srv);
  const r = await createRollout(srv, { firmwareId: fw.id, ...body });
  return { fw, r };
}

/** Two groups, a canary of `percent` % and the rest, with the same thresholds. */
export function canaryAndRest(percent: number, successThreshold: number, errorThreshold: number) {
  return [
    { name: "canary", percent, successThreshold, errorThreshold },
    { name: "rest", percent: 100 - percent, successThreshold, errorThreshold },
  ];
}

export async function rolloutState(srv: TestServer, id: string) {
  return await json<{ rollout: Rollout; devices: OtaDevice[] }>(srv.api(`/api/rollouts/${id}`));
}

export const countBy = (devices: OtaDevice[], f: (d: OtaDevice) => boolean) => devices.filter(f).length;
