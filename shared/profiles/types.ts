/**
 * Device profiles: everything the agent, the flasher and the server need to
 * know about a meter model, as data. Adding a model is adding a profile (a
 * `DeviceProfile` object, or a JSON file with the same shape checked by
 * `deviceProfileSchema`), not code.
 *
 * For the flasher: `gpio` is the OpenBeken pin template (pin number → role
 * name as OBK spells it, e.g. `{ 6: "WifiLED_n", 7: "Btn" }`), `channels` the
 * channel each role drives, and `autoexec` the autoexec.bat text.
 */
import { z } from "zod";
import { DEFAULT_POWER_UNIT_W } from "../tuyamcu/raw_power.ts";
import { CHIP_NAMES } from "../meterchips/registry.ts";

export const QUANTITIES = [
  "voltage",
  "current",
  "power",
  "energyWh",
  "exportEnergyWh",
  "frequency",
  "powerFactor",
] as const;
export type MeterQuantity = typeof QUANTITIES[number];

/** A value/enum/bool DP that carries one quantity: reading = dp value × scale. */
const valueDp = z.object({
  dp: z.number().int().min(0).max(255),
  type: z.enum(["value", "bool", "enum", "bitmap", "string", "raw"]),
  /** what the DP measures; "other" keeps it for display only */
  quantity: z.enum([...QUANTITIES, "relay", "other"]),
  /** multiply the integer by this to get V, A, W, Wh, Hz or PF (e.g. kWh×100 → 10 Wh) */
  scale: z.number().default(1),
  /** 0-based phase for 3-phase meters; absent = whole meter */
  phase: z.number().int().min(0).max(2).optional(),
  label: z.string().optional(),
}).strict();

/** A RAW DP holding V, I and P of one phase (or the only phase). */
const rawPowerDp = z.object({
  dp: z.number().int().min(0).max(255),
  type: z.literal("raw"),
  quantity: z.literal("phase"),
  decoder: z.enum(["V2C3P3", "VCP6", "VCPPfF", "DDS238"]),
  /** watts per power count in this meter's RAW field (OpenBeken's decoders: 1 W, shared/tuyamcu/raw_power.ts) */
  powerUnitW: z.number().positive().default(DEFAULT_POWER_UNIT_W),
  phase: z.number().int().min(0).max(2).optional(),
  label: z.string().optional(),
}).strict();

export const dpMappingSchema = z.union([rawPowerDp, valueDp]);

const line = z.object({
  baud: z.number().int().positive(),
  parity: z.enum(["none", "even", "odd"]).default("none"),
});

export const chipTransportSchema = line.extend({
  kind: z.literal("chip"),
  /** a chip from the registry (shared/meterchips/registry.ts) */
  chip: z.enum(CHIP_NAMES),
  /** how often the agent asks (or, for streaming chips, samples) */
  pollMs: z.number().int().positive(),
  /** starting calibration factors for this model when OBK's chip defaults are known to be wrong */
  factors: z.object({ voltage: z.number(), current: z.number(), power: z.number() }).strict().optional(),
}).strict();

export const tuyaTransportSchema = line.extend({
  kind: z.literal("tuyamcu"),
  /** the metering chip behind the MCU, for the record */
  chip: z.string().optional(),
  /** send query-state (0x08) this often once running; some MCUs only report when asked */
  queryMs: z.number().int().positive().default(5000),
  datapoints: z.array(dpMappingSchema),
}).strict();

/** A pulse-output chip (BL0937/HLW8012) read by OpenBeken from GPIO pins; the bench agent cannot poll it. */
export const pulseTransportSchema = z.object({
  kind: z.literal("pulse"),
  chip: z.literal("BL0937"),
}).strict();

export const deviceProfileSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,40}$/),
  model: z.string(),
  module: z.enum(["BK7231N", "BK7231T"]),
  /** the Wi-Fi module board the chip sits on (Tuya's CBU, CB2S, …), for the inventory record */
  board: z.enum(["CBU", "CB2S", "CB3S", "WB3S", "WB2S", "CB2L"]).optional(),
  phases: z.union([z.literal(1), z.literal(3)]).default(1),
  transport: z.discriminatedUnion("kind", [chipTransportSchema, tuyaTransportSchema, pulseTransportSchema]),
  /** OBK pin → role, e.g. { 6: "WifiLED_n" } */
  gpio: z.record(z.string(), z.string()),
  /** OBK pin → channel for roles that need one (relays, buttons, LEDs) */
  channels: z.record(z.string(), z.number().int()).default({}),
  autoexec: z.string(),
  /** where the facts come from (seed threads, datasheets) */
  sources: z.array(z.string()).default([]),
  notes: z.array(z.string()).default([]),
}).strict();

export type DpMapping = z.infer<typeof dpMappingSchema>;
export type RawPowerDp = z.infer<typeof rawPowerDp>;
export type DeviceProfile = z.infer<typeof deviceProfileSchema>;
export type DeviceProfileInput = z.input<typeof deviceProfileSchema>;
export const isRawPhaseDp = (d: DpMapping): d is RawPowerDp => d.quantity === "phase";
