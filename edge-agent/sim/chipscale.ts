/**
 * What a perfectly calibrated chip would report per volt, amp and watt: the
 * simulators multiply the physical truth by these (and the unit's gain error).
 * DIVIDE chips: raw = truth × factor. MULTIPLY chips (CSE7766): raw = truth / factor.
 */
export const SIM_SCALE = {
  BL0942: { voltage: 15188, current: 251210, power: 598 },
  RN8209C: { voltage: 8810, current: 52882, power: 9857 },
  CSE7766: { voltage: 1.94034719, current: 1, power: 1.88214409 },
  HT7017: { voltage: 10961.98, current: 1661.41, power: 3.1777 },
  BL6552: { voltage: 13162, current: 251210, power: 598 },
} as const;
