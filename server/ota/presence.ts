/**
 * What the rollout engine needs to know about a unit in the field, read from
 * the OpenBeken ingest's presence records (server/openbeken/presence.ts):
 * is it online, which version it reports, when it last booted, its ip.
 * "Verified" = online, booted after the command, and reports the new version
 * (a failed OpenBeken OTA silently boots the old one).
 *
 * `PresenceSource` is the seam: the engine never parses OpenBeken topics.
 */
import { loadPresence } from "../openbeken/presence.ts";

export interface OtaPresence {
  online: boolean;
  /** USER_SW_VER as reported ("1.18.299", "1.18.299_powerMetering") */
  version: string | null;
  /**
   * boot instant estimated from the LATEST uptime report (uptimeAt − uptime);
   * never earlier than the real boot, since uptime is whole seconds. Computed
   * here rather than taken from the ingest's reboot-detecting `bootedAt`,
   * which (rightly, for reboot counting) ignores boots < 2 min apart — a
   * quick OTA retry would otherwise never verify.
   */
  bootedAt: number | null;
  ip: string | null;
  /** any message from the unit */
  lastSeen: number;
  /** chip the unit reports ("BK7231N"), when known */
  chip: string | null;
  /** when the unit last reported its build (chip and version), null if never */
  buildAt: number | null;
  /** when its current connection began (null while offline) */
  onlineSince: number | null;
}

export interface PresenceSource {
  /** presence by OBK topic; units never seen are absent */
  load(topics: string[]): Promise<Map<string, OtaPresence>>;
}

export function kvPresence(kv: Deno.Kv): PresenceSource {
  return {
    async load(topics) {
      const out = new Map<string, OtaPresence>();
      for (const [topic, e] of await loadPresence(kv, topics)) {
        const p = e.value;
        if (!p) continue;
        const bootedAt = p.uptimeAt !== null && p.uptimeS !== null ? p.uptimeAt - p.uptimeS * 1000 : null;
        out.set(topic, {
          online: p.online,
          version: p.version,
          bootedAt,
          ip: p.ip,
          lastSeen: p.lastSeen,
          chip: p.chip,
          buildAt: p.buildAt ?? null,
          onlineSince: p.onlineSince,
        });
      }
      return out;
    },
  };
}
