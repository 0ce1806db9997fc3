/**
 * What a stored schema datapoint probably measures, from its unit when Tuya stored one and
 * otherwise from its scale and range (a value with scale 1 and max ≈ 30000 reads V×10; scale 3
 * reads A×1000; scale 2 with a huge max reads kWh×100). Used as evidence next to a live capture,
 * never instead of one: a schema copied from the cloud model can be wrong about the MCU.
 */
import type { DatapointSchemaEntry } from "./inspect.ts";

export type SchemaQuantity =
  | "voltage"
  | "current"
  | "power"
  | "energyWh"
  | "frequency"
  | "powerFactor"
  | "relay";

export interface SchemaGuess {
  quantity: SchemaQuantity;
  /** Multiply the integer by this to get V, A, W, Wh, Hz or PF. */
  scale: number;
  /** "unit" when the schema named the unit; "range" when guessed from scale and max. */
  from: "unit" | "range";
}

const pow10 = (n: number) => Math.round(10 ** -n * 1e9) / 1e9;

export function schemaQuantity(e: DatapointSchemaEntry): SchemaGuess | null {
  if (e.type === "bool") return e.mode !== "ro" ? { quantity: "relay", scale: 1, from: "range" } : null;
  if (e.type !== "value") return null;
  const s = e.scale ?? 0;
  const unit = (e.unit ?? "").replace(/\s/g, "").toLowerCase();
  if (unit) {
    if (unit === "v") return { quantity: "voltage", scale: pow10(s), from: "unit" };
    if (unit === "a") return { quantity: "current", scale: pow10(s), from: "unit" };
    if (unit === "ma") return { quantity: "current", scale: pow10(s + 3), from: "unit" };
    if (unit === "w") return { quantity: "power", scale: pow10(s), from: "unit" };
    if (unit === "kw") return { quantity: "power", scale: pow10(s - 3), from: "unit" };
    if (/^kw[·.]?h$/.test(unit) || unit === "度") return { quantity: "energyWh", scale: pow10(s - 3), from: "unit" };
    if (unit === "wh") return { quantity: "energyWh", scale: pow10(s), from: "unit" };
    if (unit === "hz") return { quantity: "frequency", scale: pow10(s), from: "unit" };
    return null;
  }
  const max = e.max ?? 0;
  if (s === 1 && max >= 2500 && max <= 50000) return { quantity: "voltage", scale: 0.1, from: "range" };
  if (s === 3) return { quantity: "current", scale: 0.001, from: "range" };
  if (s === 2 && max >= 100000) return { quantity: "energyWh", scale: 10, from: "range" };
  if (s === 2 && max <= 7000 && max >= 4500) return { quantity: "frequency", scale: 0.01, from: "range" };
  return null;
}
