/**
 * Reads the datapoint list from a Tuya model JSON, in either shape people
 * paste: the IoT-platform "model" (`result.model.services[].properties[]` with
 * abilityId/code/typeSpec, as in the SPM02 thread) or the older
 * "functions"/"status" lists (dp id not given there, so matched by code only).
 */
export interface ModelDp {
  id?: number;
  code: string;
  name: string;
  type: string;
  scale?: number;
  unit?: string;
  min?: number;
  max?: number;
  description?: string;
}

// deno-lint-ignore no-explicit-any
type Json = any;

export function parseTuyaModel(json: Json): ModelDp[] {
  const out: ModelDp[] = [];
  const services = json?.result?.model?.services ?? json?.model?.services ?? json?.services;
  if (Array.isArray(services)) {
    for (const s of services) {
      for (const p of s.properties ?? []) {
        const t = p.typeSpec ?? {};
        out.push({
          id: p.abilityId,
          code: p.code,
          name: p.name,
          type: t.type,
          scale: t.scale,
          unit: t.unit,
          min: t.min,
          max: t.max,
          description: p.description,
        });
      }
    }
  }
  for (const p of [...(json?.status ?? []), ...(json?.functions ?? [])]) {
    if (out.some((o) => o.code === p.code)) continue;
    let v: Json = {};
    try {
      v = JSON.parse(p.values ?? "{}");
    } catch { /* free text */ }
    out.push({
      id: p.dp_id ?? p.id,
      code: p.code,
      name: p.name,
      type: String(p.type).toLowerCase(),
      scale: v.scale,
      unit: v.unit,
      min: v.min,
      max: v.max,
    });
  }
  return out;
}

/** What a model code says a DP measures, if it is a metering DP. */
export function modelQuantity(d: ModelDp): { quantity: string; phase?: number } | null {
  const c = d.code.toLowerCase();
  const phase = /_x$|^x_|_a$/.test(c) ? 0 : /_y$|^y_|_b$/.test(c) ? 1 : /_z$|^z_|_c$/.test(c) ? 2 : undefined;
  if (/^phase_[abc]$/.test(c)) return { quantity: "phase", phase };
  if (c.includes("voltage")) return { quantity: "voltage", phase };
  if (c.includes("current") && !c.includes("unbalance")) return { quantity: "current", phase };
  if (c.includes("power_factor")) return { quantity: "powerFactor", phase };
  if (c.includes("reverse_energy") || c.includes("export_energy")) return { quantity: "exportEnergyWh", phase };
  if (c.includes("energy") && !c.includes("clear")) return { quantity: "energyWh", phase };
  if (c.includes("power") && !c.includes("protect")) return { quantity: "power", phase };
  if (c.includes("frequency")) return { quantity: "frequency", phase };
  if (c === "switch" || c === "switch_1") return { quantity: "relay" };
  return null;
}

/** Multiplier from the model's integer to V, A, W, Wh, Hz or PF. */
export function modelScale(d: ModelDp, quantity: string): number {
  const s = 10 ** -(d.scale ?? 0);
  const u = (d.unit ?? "").toLowerCase();
  if (quantity === "power" && u === "kw") return s * 1000;
  if (quantity.endsWith("EnergyWh") || quantity === "energyWh") return s * 1000; // kWh → Wh
  return s;
}

/** Parses model JSON text as pasted from a forum: non-breaking spaces become spaces. */
export function parseTuyaModelText(text: string): ModelDp[] {
  return parseTuyaModel(JSON.parse(text.replace(/\u00a0/g, " ")));
}
