/**
 * Energy accounting for one meter, sample by sample: a pure step function over
 * a small persisted state. Integer milli-watt-hours throughout, so daily sums
 * are exact and two runs over the same samples give the same numbers.
 *
 * Rules (each has a test in tests/energy/accounting.test.ts):
 * - A sample at or before the watermark `lastTs` is ignored: replays,
 *   duplicates and out-of-order batches add nothing.
 * - With a counter (the meter's own cumulative Wh): consumption is the counter's
 *   growth from the last *trusted* value. Growth that is negative or faster
 *   than `maxPowerW` could explain is not consumption: the new value becomes a
 *   *suspect* and is trusted only when a later sample continues from it (grows,
 *   or holds for `confirmMs`). So "0 then the old value" (OBK before it loads
 *   its flash vars) counts nothing extra — Home Assistant would count the whole
 *   old value again — while a real reset, lost flash vars after a power cut or a
 *   wrap are re-based after one confirming sample (a small new level counts as
 *   growth from zero). A modest drop after a reboot (uptime fell) is lost flash
 *   vars: growth is counted from the restored level. Never doubled or negative.
 *   A known wrap modulus (`wrapWh`) is followed exactly.
 * - Without a counter: power is integrated as a step function (OBK publishes on
 *   change and at least every 60 s), over gaps up to `maxGapMs` only; negative
 *   power (export) adds no import energy.
 */

export interface EnergySample {
  deviceId: string;
  ts: number;
  powerW: number;
  /** the meter's cumulative import counter in Wh, when this sample carries it */
  counterWh: number | null;
  /** the meter has a counter (even if this sample does not carry it): do not integrate power */
  hasCounter: boolean;
  /** when the unit last booted (OpenBeken: from uptime), if known */
  bootedAt?: number | null;
}

export interface EnergyState {
  deviceId: string;
  /** watermark: newest sample applied */
  lastTs: number;
  lastPowerW: number | null;
  lastPowerTs: number | null;
  /** last trusted counter value (mWh), when it was read, and the unit's boot time then */
  counter: { mwh: number; ts: number; bootedAt?: number | null } | null;
  /** a counter level not yet trusted (after a drop or an implausible jump) */
  suspect: { mwh: number; ts: number } | null;
  /** power was integrated since the last trusted counter (the counter went quiet): re-base when it returns */
  integrated: boolean;
  /** integration remainder below 1 mWh, in mW·ms (< 3.6e6), carried so nothing is lost to rounding */
  fracMwh: number;
  /** everything accounted so far */
  totalMwh: number;
}

/** Energy attributed to an interval; spread over its buckets later. */
export interface Span {
  from: number;
  to: number;
  mwh: number;
}

export interface AccountingOptions {
  /** fastest plausible consumption; growth beyond it is a glitch, not energy */
  maxPowerW: number;
  /** counter slack for publish rounding (OBK truncates to 3 decimals), mWh */
  slackMwh: number;
  /** longest gap power is integrated over */
  maxGapMs: number;
  /** a suspect level that holds this long (without growing) is trusted */
  confirmMs: number;
  /** a counter silent this long no longer stops power integration */
  counterStaleMs: number;
  /** counter modulus in Wh when known (e.g. a 16-bit register); 0 = none */
  wrapWh: number;
  /** largest drop after a reboot taken as lost flash vars (OBK saves every 10 Wh by default) */
  lostFlashMaxMwh: number;
}

export const DEFAULT_ACCOUNTING: AccountingOptions = {
  maxPowerW: 60_000,
  slackMwh: 1_000,
  maxGapMs: 5 * 60_000,
  confirmMs: 5 * 60_000,
  counterStaleMs: 10 * 60_000,
  wrapWh: 0,
  lostFlashMaxMwh: 100_000,
};

export function newEnergyState(deviceId: string): EnergyState {
  return {
    deviceId,
    lastTs: 0,
    lastPowerW: null,
    lastPowerTs: null,
    counter: null,
    suspect: null,
    integrated: false,
    fracMwh: 0,
    totalMwh: 0,
  };
}

export interface StepOutcome {
  state: EnergyState;
  spans: Span[];
  /** why nothing was counted, for logs and tests */
  note?: "stale" | "first" | "suspect" | "rebased" | "gap";
}

/** Apply one sample. Does not mutate `prev`. */
export function accountSample(
  prev: EnergyState,
  s: EnergySample,
  o: AccountingOptions = DEFAULT_ACCOUNTING,
): StepOutcome {
  if (s.ts <= prev.lastTs) return { state: prev, spans: [], note: "stale" };
  const st: EnergyState = { ...prev, lastTs: s.ts };
  const spans: Span[] = [];
  let note: StepOutcome["note"];

  if (s.counterWh !== null) {
    note = applyCounter(st, Math.round(s.counterWh * 1000), s.ts, s.bootedAt ?? null, spans, o);
  } else if (!s.hasCounter && !(st.counter && s.ts - st.counter.ts < o.counterStaleMs)) {
    if (st.lastPowerTs !== null && st.lastPowerW !== null && s.ts - st.lastPowerTs <= o.maxGapMs) {
      // integer arithmetic (mW × ms, 1 mWh = 3.6e6 of them) so repeated steps add up exactly
      const num = Math.round(Math.max(0, st.lastPowerW) * 1000) * (s.ts - st.lastPowerTs) + st.fracMwh;
      const mwh = Math.floor(num / 3_600_000);
      st.fracMwh = num - mwh * 3_600_000;
      if (mwh > 0) spans.push({ from: st.lastPowerTs, to: s.ts, mwh });
      if (st.counter) st.integrated = true;
    } else if (st.lastPowerTs !== null) {
      note = "gap";
    }
  }
  st.lastPowerW = s.powerW;
  st.lastPowerTs = s.ts;
  for (const sp of spans) st.totalMwh += sp.mwh;
  return { state: st, spans, note };
}

function plausible(deltaMwh: number, fromTs: number, toTs: number, o: AccountingOptions): boolean {
  return deltaMwh >= 0 && deltaMwh <= o.maxPowerW * Math.max(0, toTs - fromTs) / 3600 + o.slackMwh;
}

function applyCounter(
  st: EnergyState,
  c: number,
  ts: number,
  bootedAt: number | null,
  spans: Span[],
  o: AccountingOptions,
): StepOutcome["note"] {
  const t = st.counter;
  if (!t) {
    st.counter = { mwh: c, ts, bootedAt };
    return "first";
  }
  if (st.integrated) {
    // power was integrated while the counter was silent; its growth over that time is already counted
    st.counter = { mwh: c, ts, bootedAt };
    st.suspect = null;
    st.integrated = false;
    return "rebased";
  }
  const sus = st.suspect;
  const rebooted = bootedAt !== null && t.bootedAt != null && bootedAt > t.bootedAt + 10_000;
  if (
    rebooted && sus && sus.mwh > 0 && sus.mwh < t.mwh && t.mwh - sus.mwh <= o.lostFlashMaxMwh &&
    plausible(c - sus.mwh, sus.ts, ts, o)
  ) {
    // lost flash vars: the unit rebooted and restarted from its last saved total; count from there
    if (c > sus.mwh) spans.push({ from: sus.ts, to: ts, mwh: c - sus.mwh });
    st.counter = { mwh: c, ts, bootedAt };
    st.suspect = null;
    return "rebased";
  }
  const d = c - t.mwh;
  if (plausible(d, t.ts, ts, o)) {
    if (d > 0) spans.push({ from: t.ts, to: ts, mwh: d });
    st.counter = { mwh: c, ts, bootedAt };
    st.suspect = null;
    return undefined;
  }
  const wrap = o.wrapWh * 1000;
  if (wrap > 0 && d < 0 && plausible(d + wrap, t.ts, ts, o)) {
    if (d + wrap > 0) spans.push({ from: t.ts, to: ts, mwh: d + wrap });
    st.counter = { mwh: c, ts, bootedAt };
    st.suspect = null;
    return undefined;
  }
  if (sus && plausible(c - sus.mwh, sus.ts, ts, o) && (c > sus.mwh || ts - sus.ts >= o.confirmMs)) {
    // the new level is real (reset, wrap, lost flash vars, re-flash): count the growth seen since it appeared,
    // and the level itself when it is small enough to be growth from zero since the last trusted value
    if (sus.mwh > 0 && plausible(sus.mwh, t.ts, sus.ts, o)) spans.push({ from: t.ts, to: sus.ts, mwh: sus.mwh });
    if (c > sus.mwh) spans.push({ from: sus.ts, to: ts, mwh: c - sus.mwh });
    st.counter = { mwh: c, ts, bootedAt };
    st.suspect = null;
    return "rebased";
  }
  // keep the first suspect of a run of equal values, so `confirmMs` measures how long the level held
  if (!sus || sus.mwh !== c) st.suspect = { mwh: c, ts };
  return "suspect";
}
