/**
 * Local calendar days and months in a time zone, for energy rollups and
 * maintenance windows. A named IANA zone ("Europe/Berlin") follows summer
 * time, so a day is 23 or 25 hours twice a year and "today's kWh" matches the
 * household's midnight; a fixed offset never changes.
 *
 * Offsets come from the runtime's ICU data (Intl), cached per 15 minutes of
 * UTC time: every real zone changes its offset on a quarter hour.
 */

const MIN = 60_000;
const DAY = 86_400_000;
const SLOT = 15 * MIN;

export class ZoneError extends Error {}

/** A time zone: an IANA zone (follows summer time) or a fixed UTC offset. */
export class Zone {
  /** day starts by local day number (days since 1970-01-01 on the local calendar): hot in rollups */
  readonly #days = new Map<number, number>();
  readonly #offsets = new Map<number, number>();

  private constructor(
    /** "Europe/Berlin", or "UTC+02:00" for a fixed offset */
    readonly name: string,
    /** the offset in minutes when it never changes, else null */
    readonly fixedOffsetMin: number | null,
    compute: ((ts: number) => number) | null,
  ) {
    this.#compute = compute;
  }
  readonly #compute: ((ts: number) => number) | null;

  static fixed(offsetMin: number): Zone {
    if (!Number.isInteger(offsetMin) || Math.abs(offsetMin) > 14 * 60) {
      throw new ZoneError(`UTC offset ${offsetMin} min is not a whole number of minutes within ±14 h`);
    }
    return new Zone(offsetMin === 0 ? "UTC" : `UTC${signedHhmm(offsetMin)}`, offsetMin, null);
  }

  static named(canonical: string, compute: (ts: number) => number): Zone {
    return new Zone(canonical, null, compute);
  }

  /** minutes to add to UTC to get local time at instant `ts` */
  offsetMin(ts: number): number {
    if (this.fixedOffsetMin !== null) return this.fixedOffsetMin;
    const slot = Math.floor(ts / SLOT);
    let off = this.#offsets.get(slot);
    if (off === undefined) {
      if (this.#offsets.size > 100_000) this.#offsets.clear(); // ~3 years of slots: plenty for a working set
      off = this.#compute!(slot * SLOT);
      this.#offsets.set(slot, off);
    }
    return off;
  }

  // the last day asked for: rollups ask about the same day minute after minute
  #lastFrom = 0;
  #lastTo = 0;

  /** start of the local day that contains `ts` */
  dayStartAt(ts: number): number {
    if (ts >= this.#lastFrom && ts < this.#lastTo) return this.#lastFrom;
    const n = localDayNumber(this, ts);
    this.#lastFrom = this.dayStartOf(n);
    this.#lastTo = this.dayStartOf(n + 1);
    return this.#lastFrom;
  }

  /** start of local day number `n` (days since 1970-01-01 on the local calendar) */
  dayStartOf(n: number): number {
    if (this.fixedOffsetMin !== null) return n * DAY - this.fixedOffsetMin * MIN;
    let t = this.#days.get(n);
    if (t === undefined) {
      if (this.#days.size > 100_000) this.#days.clear();
      t = localDayStart(this, 1970, 0, 1 + n);
      this.#days.set(n, t);
    }
    return t;
  }
}

export function fixedZone(offsetMin: number): Zone {
  return Zone.fixed(offsetMin);
}

export const UTC: Zone = Zone.fixed(0);

const named = new Map<string, Zone>();

/**
 * A zone by name: an IANA zone (one shared instance per name), "UTC", or a
 * fixed "UTC+05:30" as fixedZone names itself. Throws ZoneError naming the
 * zone when the runtime does not know it.
 */
export function zoneByName(name: string): Zone {
  if (/^utc$/i.test(name)) return UTC;
  const m = /^UTC([+-])(\d\d):(\d\d)$/.exec(name);
  if (m) return fixedZone((m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])));
  let z = named.get(name);
  if (!z) named.set(name, z = makeNamedZone(name));
  return z;
}

function makeNamedZone(name: string): Zone {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
  } catch {
    throw new ZoneError(`unknown time zone "${name}" (use an IANA name such as Europe/Berlin, or a UTC offset)`);
  }
  const canonical = fmt.resolvedOptions().timeZone;
  if (canonical === "UTC" || canonical === "Etc/UTC") return UTC;
  return Zone.named(canonical, (ts) => {
    const p: Record<string, number> = {};
    for (const part of fmt.formatToParts(ts)) if (part.type !== "literal") p[part.type] = Number(part.value);
    const local = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
    return Math.round((local - Math.floor(ts / MIN) * MIN) / MIN);
  });
}

/**
 * The zone from settings: an IANA name, a fixed offset in minutes, or else
 * the host's own zone (what a bench PC or a Raspberry Pi on the wall is set to).
 */
export function zoneFromSettings(o: { name?: string; offsetMin?: number }): Zone {
  if (o.name) return zoneByName(o.name);
  if (o.offsetMin !== undefined) return fixedZone(o.offsetMin);
  return zoneByName(Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC");
}

/** The wall clock at `ts` as if it were UTC milliseconds (read its fields with UTC getters). */
function localMs(zone: Zone, ts: number): number {
  return ts + zone.offsetMin(ts) * MIN;
}

function localDate(zone: Zone, ts: number): Date {
  return new Date(localMs(zone, ts));
}

/**
 * The first instant of local date y-m-d (month 0-based; overflowing days and
 * months roll over like Date.UTC). Where midnight does not exist (a zone that
 * springs forward at 00:00) the day starts at the first instant after the gap.
 */
function localDayStart(zone: Zone, y: number, m: number, d: number): number {
  const wall = Date.UTC(y, m, d);
  let t = wall - zone.offsetMin(wall) * MIN;
  t = wall - zone.offsetMin(t) * MIN;
  // a gap at midnight lands t on the previous local day: step to where this day begins
  if (localDate(zone, t).getUTCDate() !== new Date(wall).getUTCDate()) {
    const end = t + 3 * 3_600_000;
    while (t < end && localDate(zone, t).getUTCDate() !== new Date(wall).getUTCDate()) t += SLOT;
  }
  return t;
}

/** Local day number of instant `ts` (days since 1970-01-01 on the local calendar). */
function localDayNumber(zone: Zone, ts: number): number {
  return Math.floor(localMs(zone, ts) / DAY);
}

/** Start of the local day that contains `ts`. */
export function dayStart(zone: Zone, ts: number): number {
  return zone.dayStartAt(ts);
}

/** Start of the local day `n` days after (or before) the day containing `ts`: 23 or 25 hours away across a DST change. */
export function shiftDays(zone: Zone, ts: number, n: number): number {
  return zone.dayStartOf(localDayNumber(zone, ts) + n);
}

export function nextDayStart(zone: Zone, start: number): number {
  return shiftDays(zone, start, 1);
}

/** Start of the local month that contains `ts`. */
export function monthStart(zone: Zone, ts: number): number {
  return shiftMonths(zone, ts, 0);
}

/** Start of the local month `n` months after (or before) the one containing `ts`. */
export function shiftMonths(zone: Zone, ts: number, n: number): number {
  const d = new Date(localDayNumber(zone, ts) * DAY);
  return zone.dayStartOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1) / DAY);
}

export function nextMonthStart(zone: Zone, start: number): number {
  return shiftMonths(zone, start, 1);
}

/** ISO 8601 local time with its offset, e.g. 2026-03-29T03:00+02:00 (for CSV exports a spreadsheet reads). */
export function localIso(zone: Zone, ts: number): string {
  const off = zone.offsetMin(ts);
  return `${new Date(ts + off * MIN).toISOString().slice(0, 16)}${signedHhmm(off)}`;
}

/** -330 → "-05:30" */
function signedHhmm(offsetMin: number): string {
  const a = Math.abs(offsetMin);
  return `${offsetMin < 0 ? "-" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}:${
    String(a % 60).padStart(2, "0")
  }`;
}

/** Minutes since local midnight by the wall clock (0–1439), e.g. for a 22:00–05:00 window. */
export function wallMinuteOfDay(zone: Zone, ts: number): number {
  const l = localMs(zone, ts);
  return Math.floor((((l % DAY) + DAY) % DAY) / MIN);
}
