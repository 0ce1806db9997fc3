/**
 * A unit's live presence, shown the same way everywhere (inventory table, unit page, meter and
 * energy pages), from one view (server/openbeken/presence.ts presenceView).
 */
import type { PresenceView } from "../server/openbeken/presence.ts";

export const timestamp = (t: number | null | undefined) =>
  t ? new Date(t).toISOString().replace("T", " ").slice(0, 19) : "–";

export function uptimeText(s: number | null): string {
  if (s === null) return "–";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

export function StatusBadge({ v }: { v: PresenceView }) {
  return <span class={v.status === "online" ? "badge" : "badge warn"} data-presence-status>{v.status}</span>;
}

/** Table cells: status, version, uptime, last seen, IP (in that order). */
export function PresenceCells({ v }: { v: PresenceView }) {
  return (
    <>
      <td>
        <StatusBadge v={v} />
      </td>
      <td data-presence-version>{v.version ?? "–"}</td>
      <td>{uptimeText(v.uptimeS)}</td>
      <td data-presence-seen>{v.lastSeen ? timestamp(v.lastSeen) : "never"}</td>
      <td>{v.ip ?? "–"}</td>
    </>
  );
}

export const PRESENCE_HEADERS = ["Status", "Version", "Uptime", "Last seen", "IP"] as const;

/** One line, for pages about one device. */
export function PresenceLine({ v }: { v: PresenceView }) {
  return (
    <p class="muted" data-testid="presence-line">
      <StatusBadge v={v} /> · version <span data-presence-version>{v.version ?? "–"}</span> · uptime{" "}
      {uptimeText(v.uptimeS)} · last seen <span data-presence-seen>{v.lastSeen ? timestamp(v.lastSeen) : "never"}</span>
      {" "}
      · IP {v.ip ?? "–"}
    </p>
  );
}

/** unit ↔ live meter ↔ energy, whichever exist */
export function DeviceLinks(
  { unitId, meterId, here }: { unitId: string | null; meterId: string | null; here: "unit" | "meter" | "energy" },
) {
  const links: [string, string, string][] = [];
  if (unitId && here !== "unit") links.push(["unit", `/units/${encodeURIComponent(unitId)}`, `unit ${unitId}`]);
  if (meterId && here !== "meter") links.push(["meter", `/meters/${encodeURIComponent(meterId)}`, "live meter"]);
  if (meterId && here !== "energy") links.push(["energy", `/energy/unit/${encodeURIComponent(meterId)}`, "energy"]);
  if (!links.length) return null;
  return (
    <p data-testid="device-links">
      {links.map(([k, href, text], i) => (
        <>
          {i ? " · " : ""}
          <a key={k} href={href} data-link={k}>{text}</a>
        </>
      ))}
    </p>
  );
}
