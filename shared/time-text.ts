/**
 * Times as pages show them: relative to now ("3 minutes ago") and absolute in the fleet's zone (on hover).
 * Pure text, so server-rendered components and islands format alike.
 */
import { localIso, type Zone } from "./zone.ts";

const UNITS: [ms: number, name: Intl.RelativeTimeFormatUnit][] = [
  [365 * 86_400_000, "year"],
  [30 * 86_400_000, "month"],
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1000, "second"],
];
const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "3 minutes ago" / "in 2 hours"; "now" within 5 s. */
export function relative(ts: number, now: number): string {
  const d = ts - now;
  if (Math.abs(d) < 5000) return "now";
  for (const [ms, unit] of UNITS) {
    if (Math.abs(d) >= ms || unit === "second") return rtf.format(Math.trunc(d / ms), unit);
  }
  return "now";
}

/** "2026-12-01 14:03:05" in the fleet's zone (with its offset when not UTC). */
export function absolute(ts: number, zone?: Zone): string {
  if (!zone) return new Date(ts).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  const iso = localIso(zone, ts); // 2026-12-01T15:03+01:00
  const secs = new Date(ts).toISOString().slice(16, 19); // ":05"
  const off = iso.slice(16);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${secs} ${off === "+00:00" ? zone.name : off}`;
}
