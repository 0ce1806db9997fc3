/**
 * `deno task agent run --port <tty> --profile <id|file.json> [--device <id>]`,
 * repeatable: one poller per port, chosen by the profile. Plugged into the
 * agent's option parser by spreading `portPollerOptions` and calling
 * `portPollers(values)`.
 */
import { getProfile, parseProfile } from "../../shared/profiles/mod.ts";
import type { DeviceProfile } from "../../shared/profiles/types.ts";
import type { Poller } from "./poller.ts";
import { pollerForProfile } from "./from_profile.ts";

export const PORT_HELP = `  --port <tty>          poll a real meter on this serial port (repeat for more ports)
  --profile <id|file>   its device profile, in the same order as --port (ids: deno task agent profiles)
  --device <id>         its device id (default: <profile>-<tty name>)`;

export const portPollerOptions = {
  port: { type: "string", multiple: true },
  profile: { type: "string", multiple: true },
  device: { type: "string", multiple: true },
} as const;

export function loadProfile(ref: string): DeviceProfile {
  if (ref.endsWith(".json")) return parseProfile(JSON.parse(Deno.readTextFileSync(ref)));
  return getProfile(ref);
}

export function portPollers(a: { port?: string[]; profile?: string[]; device?: string[] }): Poller[] {
  const ports = a.port ?? [];
  const profs = a.profile ?? [];
  if (ports.length !== profs.length) {
    throw new Error(`give one --profile per --port (${ports.length} ports, ${profs.length} profiles)`);
  }
  return ports.map((port, i) => {
    const profile = loadProfile(profs[i]);
    const deviceId = a.device?.[i] ?? `${profile.id}-${port.split("/").pop()}`.replace(/[^A-Za-z0-9_.:-]/g, "-");
    return pollerForProfile(profile, { port, deviceId });
  });
}

/** `deno task agent profiles`: the built-in device profiles. */
export async function runProfilesCli(args: string[]) {
  const { profiles } = await import("../../shared/profiles/mod.ts");
  if (args[0]) return console.log(JSON.stringify(loadProfile(args[0]), null, 2));
  for (const p of profiles.values()) {
    const t = p.transport;
    const link = t.kind === "pulse" ? "GPIO pulses" : `${t.baud} baud`;
    console.log(`${p.id.padEnd(18)} ${t.kind === "tuyamcu" ? "TuyaMCU" : t.chip} ${link}  ${p.model}`);
  }
}
