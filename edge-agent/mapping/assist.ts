/**
 * Datapoint mapping assistant: from a TuyaMCU capture (and optionally the
 * Tuya model JSON) propose which DP is voltage, current, power, energy, ...
 * with its scale. Evidence, strongest first: a value DP equal to a field of a
 * RAW phase packet; the stride of such triplets; physical plausibility
 * (230 V, 50 Hz, P ≤ V·I); the model JSON; the datapoint schema stored in the
 * unit's stock backup (shared/tuya-config). Disagreements are reported as
 * contradictions, e.g. the SPM02's model JSON numbering its per-phase DPs one
 * off from what the MCU really sends.
 */
import { TuyaFrameParser } from "../../shared/tuyamcu/frame.ts";
import { type Datapoint, decodeDatapoints } from "../../shared/tuyamcu/dp.ts";
import { decodeRawPower, DEFAULT_POWER_UNIT_W, type RawPower } from "../../shared/tuyamcu/raw_power.ts";
import type { DeviceProfileInput, DpMapping } from "../../shared/profiles/types.ts";
import { type ModelDp, modelQuantity, modelScale } from "./tuya_model.ts";
import type { DatapointSchemaEntry } from "../../shared/tuya-config/inspect.ts";
import { schemaQuantity } from "../../shared/tuya-config/schema_quantity.ts";

export interface Proposal {
  dp: number;
  type: Datapoint["type"];
  quantity: string;
  scale?: number;
  phase?: number;
  decoder?: "V2C3P3";
  powerUnitW?: number;
  /** human-readable value seen, after scaling */
  example: string;
  evidence: string;
}

export interface MappingResult {
  seen: { dp: number; type: string; value: unknown; count: number }[];
  proposals: Proposal[];
  contradictions: string[];
  powerUnitW?: number;
  autoexec: string;
  profile: DeviceProfileInput;
}

const inRange = (x: number, lo: number, hi: number) => x >= lo && x <= hi;

export function assistMapping(
  capture: Uint8Array,
  model: ModelDp[] = [],
  opts: { id?: string; baud?: number; schema?: DatapointSchemaEntry[] } = {},
): MappingResult {
  // 1. every DP the MCU sent, last value wins
  const last = new Map<number, Datapoint>();
  const count = new Map<number, number>();
  const parser = new TuyaFrameParser();
  for (const e of [...parser.push(capture), ...parser.flush()]) {
    if (
      e.kind !== "frame" || ![0x07, 0x22, 0x05].includes(e.frame.command) ||
      (e.frame.command === 0x05 && e.frame.version !== 0)
    ) continue;
    try {
      for (const d of decodeDatapoints(e.frame.data)) {
        last.set(d.id, d);
        count.set(d.id, (count.get(d.id) ?? 0) + 1);
      }
    } catch { /* a truncated DP: the decode CLI reports those */ }
  }
  const proposals: Proposal[] = [];
  const contradictions: string[] = [];
  const byId = new Map(model.filter((m) => m.id !== undefined).map((m) => [m.id!, m]));
  const schema = opts.schema ?? [];
  const schemaById = new Map(schema.map((e) => [e.id, e]));
  const taken = new Set<number>();

  // 2. RAW phase packets (8/10 bytes), phase order by dp id
  const raws = [...last.values()].filter((d) => d.type === "raw" && (d.bytes.length === 8 || d.bytes.length === 10))
    .map((d) => ({ d, r: decodeRawPower(d.bytes, "V2C3P3", { powerUnitW: 1 }) }))
    .filter((x) => inRange(x.r.voltage, 50, 500))
    .sort((a, b) => a.d.id - b.d.id);
  const rawPhase = new Map<number, { dp: number; r: RawPower }>();
  for (const [k, x] of raws.entries()) {
    const m = byId.get(x.d.id);
    const mq = m ? modelQuantity(m) : null;
    const phase = mq?.quantity === "phase" && mq.phase !== undefined ? mq.phase : k;
    rawPhase.set(phase, { dp: x.d.id, r: x.r });
    taken.add(x.d.id);
    proposals.push({
      dp: x.d.id,
      type: "raw",
      quantity: "phase",
      decoder: "V2C3P3",
      phase: raws.length > 1 ? phase : undefined,
      example: `${x.r.voltage} V, ${x.r.current} A, ${x.r.raw.power} power counts`,
      evidence: "8/10-byte RAW with a plausible voltage in bytes 0-1",
    });
  }

  // 3. value DPs equal to a raw phase field
  const values = [...last.values()].filter((d) => d.type === "value");
  const field = { voltage: 0.1, current: 0.001, power: 1 } as const;
  const matched = new Map<number, { phase: number; q: keyof typeof field }>();
  for (const d of values) {
    for (const [phase, { dp, r }] of rawPhase) {
      for (const q of ["voltage", "current", "power"] as const) {
        if (d.value === r.raw[q] && d.value !== 0 && !matched.has(d.id)) {
          matched.set(d.id, { phase, q });
          proposals.push({
            dp: d.id,
            type: "value",
            quantity: q,
            scale: field[q],
            phase,
            example: `${d.value}`,
            evidence: `equals phase ${"ABC"[phase]} ${q} in raw dp${dp}`,
          });
          taken.add(d.id);
        }
      }
    }
  }
  // 3b. the stride of V/I/P triplets: fill a phase whose raw packet was not captured
  const triplets = [
    ...new Set([...matched.entries()].filter(([, m]) => m.q === "voltage").map(([id, m]) => ({ id, phase: m.phase }))),
  ];
  if (triplets.length >= 2) {
    const sorted = triplets.sort((a, b) => a.phase - b.phase);
    const stride = (sorted[1].id - sorted[0].id) / (sorted[1].phase - sorted[0].phase);
    for (let phase = 0; phase < 3; phase++) {
      if (sorted.some((t) => t.phase === phase)) continue;
      const base = sorted[0].id + (phase - sorted[0].phase) * stride;
      const v = last.get(base), i = last.get(base + 1), p = last.get(base + 2);
      if (v?.type === "value" && inRange(v.value / 10, 50, 500) && i?.type === "value" && p?.type === "value") {
        for (const [d, q] of [[v, "voltage"], [i, "current"], [p, "power"]] as const) {
          proposals.push({
            dp: d.id,
            type: "value",
            quantity: q,
            scale: field[q],
            phase,
            example: `${d.value}`,
            evidence: `V/I/P triplets repeat every ${stride} dps`,
          });
          taken.add(d.id);
          matched.set(d.id, { phase, q });
        }
      }
    }
  }

  // 4. power units: whole watts or tenths? P ≤ V·I and agreement with a total-power / PF DP decide
  let powerUnitW: number | undefined;
  const phaseVals = [0, 1, 2].map((ph) => {
    const get = (q: string) => [...matched.entries()].find(([, m]) => m.phase === ph && m.q === q)?.[0];
    const num = (id?: number) => (id === undefined ? undefined : (last.get(id)!.value as number));
    const rp = rawPhase.get(ph)?.r.raw;
    return {
      v: num(get("voltage")) ?? rp?.voltage,
      i: num(get("current")) ?? rp?.current,
      p: num(get("power")) ?? rp?.power,
    };
  }).filter((x) => x.v && x.i && x.p !== undefined);
  if (phaseVals.length) {
    const pfAt = (unit: number) => phaseVals.map((x) => (x.p! * unit) / ((x.v! / 10) * (x.i! / 1000)));
    const ok1 = pfAt(1).every((pf) => pf <= 1.05), ok01 = pfAt(0.1).every((pf) => pf <= 1.05);
    powerUnitW = ok1 && !ok01 ? 1 : !ok1 && ok01 ? 0.1 : undefined;
    if (powerUnitW === undefined && ok1) {
      // both physically possible: prefer the one whose PF is nearer a PF DP or whose sum matches a total DP
      const pfDp = values.find((d) =>
        !taken.has(d.id) && inRange(d.value, 1, 100) &&
        modelQuantity(byId.get(d.id) ?? { code: "", name: "", type: "" })?.quantity === "powerFactor"
      );
      const sum = phaseVals.reduce((s, x) => s + x.p!, 0);
      const total = values.find((d) => !taken.has(d.id) && Math.abs(d.value - sum) <= Math.max(3, sum * 0.1));
      if (total) powerUnitW = 1;
      else if (pfDp) {
        const avg1 = pfAt(1).reduce((a, b) => a + b, 0) / phaseVals.length;
        powerUnitW = Math.abs(avg1 - pfDp.value / 100) < Math.abs(avg1 / 10 - pfDp.value / 100) ? 1 : 0.1;
      }
    }
    if (powerUnitW !== undefined) {
      for (const p of proposals) {
        if (p.quantity === "phase") p.powerUnitW = powerUnitW;
        if (p.quantity === "power" && p.phase !== undefined) p.scale = powerUnitW;
      }
    }
  }

  // 5. the rest: the model JSON, checked for plausibility; then plausibility alone
  for (const d of [...last.values()]) {
    if (taken.has(d.id)) continue;
    const m = byId.get(d.id);
    const mq = m ? modelQuantity(m) : null;
    if (m && mq && mq.quantity !== "phase" && typeof d.value === "number") {
      const scale = modelScale(m, mq.quantity);
      const x = d.value * scale;
      if (plausible(mq.quantity, x)) {
        proposals.push({
          dp: d.id,
          type: d.type,
          quantity: mq.quantity,
          scale,
          phase: mq.phase,
          example: `${round(x)}`,
          evidence: `model JSON: ${m.code}`,
        });
        taken.add(d.id);
        continue;
      }
    }
    const se = schemaById.get(d.id);
    const sg = se ? schemaQuantity(se) : null;
    if (sg && sg.quantity !== "relay" && typeof d.value === "number" && plausible(sg.quantity, d.value * sg.scale)) {
      proposals.push({
        dp: d.id,
        type: d.type,
        quantity: sg.quantity,
        scale: sg.scale,
        example: `${round(d.value * sg.scale)}`,
        evidence: `backup schema: ${schemaWhy(se!)}`,
      });
      taken.add(d.id);
      continue;
    }
    if (sg?.quantity === "relay" && d.type === "bool") {
      proposals.push({
        dp: d.id,
        type: "bool",
        quantity: "relay",
        example: String(d.value),
        evidence: "backup schema: writable bool",
      });
      taken.add(d.id);
      continue;
    }
    if (m && mq?.quantity === "relay" && d.type === "bool") {
      proposals.push({
        dp: d.id,
        type: "bool",
        quantity: "relay",
        example: String(d.value),
        evidence: `model JSON: ${m.code}`,
      });
      taken.add(d.id);
      continue;
    }
    if (d.type === "value" && inRange(d.value / 100, 45, 65)) {
      proposals.push({
        dp: d.id,
        type: "value",
        quantity: "frequency",
        scale: 0.01,
        example: `${d.value / 100} Hz`,
        evidence: "50/60 Hz at ÷100",
      });
      taken.add(d.id);
    }
  }

  // 6. contradictions between the model JSON and what the MCU sent
  for (const m of model) {
    if (m.id === undefined) continue;
    const mq = modelQuantity(m);
    const d = last.get(m.id);
    const prop = proposals.find((p) => p.dp === m.id);
    if (
      mq?.quantity === "phase" && powerUnitW !== undefined && /0\.0001\s*kw/i.test(m.description ?? "") &&
      powerUnitW !== 0.1
    ) {
      contradictions.push(
        `dp${m.id}: model JSON gives raw phase power in 0.0001 kW (0.1 W), but P ≤ V·I and the totals only hold in whole watts`,
      );
    }
    if (!d) {
      if (mq && mq.quantity !== "relay") {
        contradictions.push(`model JSON lists dp${m.id} (${m.code}) but the capture never shows it`);
      }
      continue;
    }
    if (prop && !mq && prop.quantity !== "other") {
      contradictions.push(
        `dp${m.id}: model JSON says ${m.code}, but the MCU's value ${fmt(d)} is ${prop.quantity}${
          prop.phase !== undefined ? ` of phase ${"ABC"[prop.phase]}` : ""
        } (${prop.evidence})`,
      );
    } else if (
      prop && mq &&
      (prop.quantity !== mq.quantity || (mq.phase !== undefined && prop.phase !== undefined && prop.phase !== mq.phase))
    ) {
      contradictions.push(
        `dp${m.id}: model JSON says ${m.code}, but the MCU's value ${fmt(d)} is ${prop.quantity}${
          prop.phase !== undefined ? ` of phase ${"ABC"[prop.phase]}` : ""
        } (${prop.evidence})`,
      );
    } else if (
      !prop && mq && typeof d.value === "number" && !plausible(mq.quantity, d.value * modelScale(m, mq.quantity))
    ) {
      contradictions.push(
        `dp${m.id}: model JSON says ${m.code} (${m.unit ?? ""}, scale ${m.scale ?? 0}) but ${d.value} would be ${
          round(d.value * modelScale(m, mq.quantity))
        }, implausible`,
      );
    }
  }
  for (const d of last.values()) {
    if (!byId.has(d.id) && model.length && !["string"].includes(d.type)) {
      contradictions.push(`dp${d.id} (${d.type} ${fmt(d)}) is sent by the MCU but missing from the model JSON`);
    }
  }

  // 7. contradictions between the backup's stored schema and what the MCU sent
  for (const e of schema) {
    const d = last.get(e.id);
    const g = schemaQuantity(e);
    if (!d) {
      if (e.mode === "ro" && e.type !== "string") {
        contradictions.push(`backup schema lists dp${e.id} (${e.type}, ${e.mode}) but the capture never shows it`);
      }
      continue;
    }
    if (d.type !== e.type && !(e.type === "value" && d.type === "bitmap")) {
      contradictions.push(`dp${e.id}: backup schema says ${e.type}, but the MCU sends ${d.type} ${fmt(d)}`);
      continue;
    }
    const prop = proposals.find((p) => p.dp === e.id);
    if (g && prop && prop.quantity !== g.quantity && prop.quantity !== "other") {
      contradictions.push(
        `dp${e.id}: backup schema reads ${g.quantity} ×${g.scale} (${schemaWhy(e)}), but the MCU's value ${
          fmt(d)
        } is ${prop.quantity}${prop.phase !== undefined ? ` of phase ${"ABC"[prop.phase]}` : ""} (${prop.evidence})`,
      );
    } else if (g && !prop && typeof d.value === "number" && !plausible(g.quantity, d.value * g.scale)) {
      contradictions.push(
        `dp${e.id}: backup schema reads ${g.quantity} ×${g.scale}, but ${d.value} would be ${
          round(d.value * g.scale)
        }, implausible`,
      );
    }
  }
  if (schema.length) {
    for (const d of last.values()) {
      if (!schemaById.has(d.id)) {
        contradictions.push(`dp${d.id} (${d.type} ${fmt(d)}) is sent by the MCU but missing from the backup's schema`);
      }
    }
  }

  const seen = [...last.values()].sort((a, b) => a.id - b.id).map((d) => ({
    dp: d.id,
    type: d.type,
    value: d.value,
    count: count.get(d.id) ?? 0,
  }));
  proposals.sort((a, b) => a.dp - b.dp);
  const profile = toProfile(
    proposals,
    opts,
    rawPhase.size > 1 || new Set(proposals.map((p) => p.phase).filter((x) => x !== undefined)).size > 1,
  );
  return {
    seen,
    proposals,
    contradictions: [...new Set(contradictions)],
    powerUnitW,
    autoexec: toAutoexec(proposals),
    profile,
  };
}

function plausible(q: string, x: number): boolean {
  switch (q) {
    case "voltage":
      return inRange(x, 50, 500);
    case "frequency":
      return inRange(x, 45, 65);
    case "powerFactor":
      return inRange(Math.abs(x), 0, 1);
    case "current":
      return inRange(Math.abs(x), 0, 1000);
    case "power":
      return Math.abs(x) < 1e6;
    default:
      return x >= 0;
  }
}

const schemaWhy = (e: DatapointSchemaEntry) =>
  e.unit ? `unit ${e.unit}, scale ${e.scale ?? 0}` : `scale ${e.scale ?? 0}, max ${e.max ?? "?"}`;

const round = (x: number) => Math.round(x * 1000) / 1000;
const fmt = (d: Datapoint) => (typeof d.value === "string" ? JSON.stringify(d.value) : String(d.value));

const CHANNEL_TYPE: Record<string, (scale: number) => string | undefined> = {
  voltage: (s) => (s === 0.1 ? "Voltage_div10" : s === 0.01 ? "Voltage_div100" : undefined),
  current: (s) => (s === 0.001 ? "Current_div1000" : s === 0.01 ? "Current_div100" : undefined),
  power: (s) => (s === 1 ? "Power" : s === 0.1 ? "Power_div10" : s === 0.01 ? "Power_div100" : undefined),
  frequency: (
    s,
  ) => (s === 0.01
    ? "Frequency_div100"
    : s === 0.1
    ? "Frequency_div10"
    : s === 0.001
    ? "Frequency_div1000"
    : undefined),
  powerFactor: (s) => (s === 0.01 ? "PowerFactor_div100" : s === 0.001 ? "PowerFactor_div1000" : undefined),
  energyWh: (s) => (s === 10 ? "EnergyTotal_kWh_div100" : s === 1 ? "EnergyTotal_kWh_div1000" : undefined),
  exportEnergyWh: (s) => (s === 10 ? "EnergyTotal_kWh_div100" : s === 1 ? "EnergyExport_kWh_div1000" : undefined),
};

/** OpenBeken autoexec.bat for the proposal: value DPs on channels; a RAW phase only when no value DPs cover it. */
export function toAutoexec(props: Proposal[]): string {
  const lines = ["startDriver TuyaMCU", "tuyaMcu_defWiFiState 4"];
  let ch = 1;
  const valuePhases = new Set(props.filter((p) => p.type === "value" && p.phase !== undefined).map((p) => p.phase));
  for (const p of props) {
    if (p.quantity === "relay") {
      lines.push(`setChannelType ${ch} toggle`, `linkTuyaMCUOutputToChannel ${p.dp} bool ${ch++}`);
    } else if (p.quantity === "phase") {
      if (valuePhases.has(p.phase)) continue;
      // RAW_V2C3P3 writes V, I, P to the first Voltage_div10 / Current_div1000 / Power channels
      lines.push(
        `setChannelType ${ch} Voltage_div10`,
        `setChannelType ${ch + 1} Current_div1000`,
        `setChannelType ${ch + 2} Power`,
        `linkTuyaMCUOutputToChannel ${p.dp} RAW_V2C3P3 ${ch}`,
      );
      ch += 3;
    } else if (CHANNEL_TYPE[p.quantity] && p.scale !== undefined) {
      const t = CHANNEL_TYPE[p.quantity](p.scale);
      if (!t) continue;
      lines.push(`setChannelType ${ch} ${t}`, `linkTuyaMCUOutputToChannel ${p.dp} val ${ch++}`);
    }
  }
  return lines.join("\n") + "\n";
}

function toProfile(props: Proposal[], opts: { id?: string; baud?: number }, threePhase: boolean): DeviceProfileInput {
  const datapoints: DpMapping[] = props.map((p) =>
    p.quantity === "phase"
      ? {
        dp: p.dp,
        type: "raw",
        quantity: "phase",
        decoder: "V2C3P3",
        powerUnitW: p.powerUnitW ?? DEFAULT_POWER_UNIT_W,
        phase: p.phase,
      }
      : {
        dp: p.dp,
        type: p.type === "bool" ? "bool" : p.type === "enum" ? "enum" : "value",
        quantity: p.quantity as DpMapping["quantity"] as never,
        scale: p.scale ?? 1,
        phase: p.phase,
      }
  ) as DpMapping[];
  return {
    id: opts.id ?? "mapped-tuyamcu",
    model: "TuyaMCU meter (mapped from a capture)",
    module: "BK7231N",
    phases: threePhase ? 3 : 1,
    transport: { kind: "tuyamcu", baud: opts.baud ?? 9600, queryMs: 5000, datapoints },
    gpio: {},
    autoexec: toAutoexec(props),
    sources: ["deno task agent map-dps"],
    notes: [],
  };
}
