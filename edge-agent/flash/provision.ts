/**
 * Bench provisioning: turn a provisioning file plus what the flasher learned
 * about a unit (chip, MAC) into OpenBeken's config sector (shared/obk-config.ts).
 *
 * File (JSON):
 *   { "wifi": { "ssid": "house", "password": "..." },
 *     "mqtt": { "host": "10.0.0.2", "port": 1883, "user": "...", "password": "..." |
 *               "credentials": "server" (per-unit user/password issued by the server for the topic) |
 *               "unitSecret": "..." (derive them here from the fleet secret) },
 *     "profile": "zmai-90",              // device profile: GPIO template + startup command;
 *                                        // "from-backup": the template proposed from each unit's own
 *                                        // stock backup (shared/tuya-config), no hand-written profile
 *     "topicPrefix": "obk",              // topic = prefix + 4 MAC bytes (OBK's default form)
 *     "deviceName": "ZMAi-90 {mac}",     // shown in OBK's UI/HA; {mac} = the 4 MAC bytes, {topic} = the topic
 *     "startupCommand": "..." }          // overrides the profile's autoexec
 */
import { buildObkConfig, defaultNames, unitMqttCredentials } from "../../shared/obk-config.ts";
import { getProfile } from "../../shared/profiles/mod.ts";
import type { ChipKind } from "../../shared/bk7231/mod.ts";
import { FlashError } from "./errors.ts";
import { inspectBackup, obkProposal } from "../../shared/tuya-config/mod.ts";
import { CodecError } from "../../shared/errors.ts";

export interface ProvisioningFile {
  wifi: { ssid: string; password: string };
  mqtt: {
    host: string;
    port?: number;
    user?: string;
    password?: string;
    credentials?: "server";
    unitSecret?: string;
    group?: string;
  };
  profile?: string;
  topicPrefix?: string;
  deviceName?: string;
  startupCommand?: string;
}

/** Builds a unit's config sector; `profile` is the device profile id, for the inventory record. */
export type ConfigSectorFor =
  & ((unit: { chip: ChipKind; mac?: string; backup?: Uint8Array }) => Promise<Uint8Array | undefined>)
  & { profile?: string };

export const PROFILE_FROM_BACKUP = "from-backup";

/** Pins, channels and startup command proposed from a unit's stock backup; refuses when it says nothing usable. */
export function templateFromBackup(backup: Uint8Array | undefined) {
  if (!backup) throw new FlashError("BAD_IMAGE", `profile "${PROFILE_FROM_BACKUP}" needs the unit's backup`);
  let r;
  try {
    r = inspectBackup(backup);
  } catch (e) {
    if (e instanceof CodecError) throw new FlashError("BAD_IMAGE", `profile from backup: ${e.message}`);
    throw e;
  }
  if (!r.found) throw new FlashError("BAD_IMAGE", `profile from backup: ${r.reason}`);
  const p = obkProposal(r);
  if (!p.profile) {
    throw new FlashError(
      "BAD_IMAGE",
      `profile from backup: the stock config describes no meter OpenBeken can drive (${
        p.warnings.join("; ") || "no pins"
      })`,
    );
  }
  return { gpio: p.gpio, channels: p.channels, autoexec: p.autoexec, inspection: r };
}

/** Profile autoexec lines → one OBK startup command line (`backlog a; b`). */
export function startupFromAutoexec(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("//") && !l.startsWith("#"));
  if (lines.length <= 1) return lines[0] ?? "";
  return `backlog ${lines.join("; ")}`;
}

export interface CredentialIssuer {
  unitCredentials(topic: string, mac: string): Promise<{ user: string; password: string }>;
}

export function provisioning(p: ProvisioningFile, issuer?: CredentialIssuer): ConfigSectorFor {
  if (!p.wifi?.ssid || !p.mqtt?.host) throw new FlashError("BAD_IMAGE", "provisioning needs wifi.ssid and mqtt.host");
  if (p.mqtt.credentials === "server" && !issuer) {
    throw new FlashError("BAD_IMAGE", `mqtt.credentials "server" needs --server (and --agent-id/--token)`);
  }
  const fromBackup = p.profile === PROFILE_FROM_BACKUP;
  const fixed = p.profile && !fromBackup ? getProfile(p.profile) : undefined;
  const build: ConfigSectorFor = async ({ chip, mac, backup }) => {
    if (!mac) throw new FlashError("BAD_IMAGE", "cannot provision a unit whose MAC was not found in its backup");
    const profile = fromBackup ? templateFromBackup(backup) : fixed;
    const names = defaultNames(chip, mac);
    const topic = p.topicPrefix ? `${p.topicPrefix}${names.short.slice(3)}` : names.short;
    const creds = p.mqtt.credentials === "server"
      ? await issuer!.unitCredentials(topic, mac)
      : p.mqtt.unitSecret
      ? await unitMqttCredentials(p.mqtt.unitSecret, topic)
      : { user: p.mqtt.user, password: p.mqtt.password };
    return buildObkConfig({
      chip,
      mac,
      wifiSsid: p.wifi.ssid,
      wifiPassword: p.wifi.password,
      mqttHost: p.mqtt.host,
      mqttPort: p.mqtt.port,
      mqttUser: creds.user,
      mqttPassword: creds.password,
      mqttGroup: p.mqtt.group,
      mqttTopic: topic,
      shortName: topic,
      longName: p.deviceName?.replaceAll("{mac}", names.short.slice(3)).replaceAll("{topic}", topic),
      pins: profile?.gpio,
      channels: profile?.channels,
      startupCommand: p.startupCommand ?? (profile ? startupFromAutoexec(profile.autoexec) : undefined),
    });
  };
  // a fixed profile names the model for inventory; one read from each unit's backup does not
  build.profile = fixed?.id;
  return build;
}

export async function provisioningFromFile(path: string, issuer?: CredentialIssuer): Promise<ConfigSectorFor> {
  return provisioning(JSON.parse(await Deno.readTextFile(path)) as ProvisioningFile, issuer);
}
