/** Device profiles: the built-in models and loading more from JSON. */
import { CodecError } from "../errors.ts";
import { builtinProfiles } from "./models.ts";
import { type DeviceProfile, deviceProfileSchema } from "./types.ts";

export * from "./types.ts";

export function parseProfile(input: unknown): DeviceProfile {
  const r = deviceProfileSchema.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new CodecError(
      "bad_profile",
      `profile: ${i.path.join(".") || "(root)"}: ${i.message}`,
      r.error.issues.slice(0, 5),
    );
  }
  return r.data;
}

export const profiles: ReadonlyMap<string, DeviceProfile> = new Map(builtinProfiles.map((p) => {
  const parsed = parseProfile(p);
  return [parsed.id, parsed];
}));

export function getProfile(id: string): DeviceProfile {
  const p = profiles.get(id);
  if (!p) throw new CodecError("unknown_profile", `no profile "${id}" (known: ${[...profiles.keys()].join(", ")})`);
  return p;
}

/** The pin template as OBK's /api/pins POST wants it: roles[] and channels[] indexed by pin. */
export function pinTemplate(p: DeviceProfile): { roles: Record<number, string>; channels: Record<number, number> } {
  const roles: Record<number, string> = {}, channels: Record<number, number> = {};
  for (const [pin, role] of Object.entries(p.gpio)) roles[Number(pin)] = role;
  for (const [pin, ch] of Object.entries(p.channels)) channels[Number(pin)] = ch;
  return { roles, channels };
}
