/**
 * From a stock backup's configuration to OpenBeken: the pin template (pin → role, pin →
 * channel), an autoexec.bat and a meterfleet device profile, with no hand-written profile.
 *
 * OpenBeken commands used, as in openshwprojects/OpenBK7231T_App:
 *   `startDriver BL0937` reads the BL0937CF/CF1/SEL pins (src/driver/drv_bl0937.c);
 *   `startDriver TuyaMCU`, `tuyaMcu_setBaudRate <baud>` (default 9600, "some other devices
 *   require 115200"), `tuyaMcu_defWiFiState 4`, and
 *   `linkTuyaMCUOutputToChannel <dpId> <bool|val|...> <channel>` (src/driver/drv_tuyaMCU.c);
 *   `setChannelType <ch> <type>` with the divisor in the type name (src/new_pins.c).
 */
import type { BackupInspection, DatapointSchemaEntry } from "./inspect.ts";
import { schemaQuantity } from "./schema_quantity.ts";
import type { DeviceProfileInput, DpMapping } from "../profiles/types.ts";

export interface ObkProposal {
  /** OpenBeken pin → role. */
  gpio: Record<string, string>;
  /** OpenBeken pin → channel. */
  channels: Record<string, number>;
  autoexec: string;
  /** A meterfleet profile, when the backup describes a meter (BL0937 pins or a TuyaMCU link). */
  profile?: DeviceProfileInput;
  /** What could not be mapped and why. */
  warnings: string[];
}

/** OpenBeken channel type for a quantity at a scale (the divisor is in the name). */
function channelType(q: string, scale: number): string | undefined {
  const by: Record<string, Record<string, string>> = {
    voltage: { "0.1": "Voltage_div10", "0.01": "Voltage_div100", "1": "Voltage_div10" },
    current: { "0.001": "Current_div1000", "0.01": "Current_div100", "0.1": "Current_div10" },
    power: { "1": "Power", "0.1": "Power_div10", "0.01": "Power_div100" },
    frequency: { "0.01": "Frequency_div100", "0.1": "Frequency_div10", "0.001": "Frequency_div1000", "1": "Frequency" },
    powerFactor: { "0.01": "PowerFactor_div100", "0.001": "PowerFactor_div1000" },
    energyWh: { "10": "EnergyTotal_kWh_div100", "1": "EnergyTotal_kWh_div1000" },
  };
  const t = by[q]?.[String(scale)];
  // Voltage_div10 on a ×1 value would show a tenth of it: only the exact matches above
  return q === "voltage" && scale === 1 ? undefined : t;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 30);

export function obkProposal(insp: BackupInspection): ObkProposal {
  const gpio: Record<string, string> = {};
  const channels: Record<string, number> = {};
  const warnings: string[] = [];
  const lines: string[] = [];
  for (const p of insp.pins) {
    if (!p.obkRole) {
      warnings.push(`P${p.gpio} (${p.key}, ${p.meaning}) has no OpenBeken role here: set it by hand`);
      continue;
    }
    gpio[p.gpio] = p.obkRole;
    if (p.channel !== undefined) channels[p.gpio] = p.channel;
  }
  const bl0937 = ["bl0937-cf", "bl0937-cf1", "bl0937-sel"].map((fn) => insp.pins.find((p) => p.fn === fn));
  const datapoints: DpMapping[] = [];
  if (bl0937.every(Boolean)) {
    lines.push("startDriver BL0937", "startDriver NTP");
  } else if (bl0937.some(Boolean)) {
    warnings.push("only some of the BL0937 pins (CF, CF1, SEL) are in the config: the driver needs all three");
  }
  if (insp.tuyaMcu) {
    lines.push("startDriver TuyaMCU");
    const baud = insp.tuyaMcu.baud ?? 9600;
    if (baud !== 9600) lines.push(`tuyaMcu_setBaudRate ${baud}`);
    // the MCU waits for "connected to cloud" before it reports on many meters
    lines.push("tuyaMcu_defWiFiState 4");
    let ch = 1;
    for (const e of insp.schema) {
      const r = tuyaLine(e, ch);
      if (r.warning) warnings.push(r.warning);
      if (!r.lines.length) continue;
      lines.push(...r.lines);
      if (r.mapping) datapoints.push(r.mapping);
      ch++;
    }
    if (!insp.schema.length) warnings.push("no datapoint schema in the backup: map the dpIDs with a capture (map-dps)");
  }
  if (insp.uart && !insp.tuyaMcu) {
    const u = insp.uart;
    lines.push(
      `// a metering chip on UART1 (P10 RX1 / P11 TX1) at ${u.baud ?? "?"} baud${
        u.parity && u.parity !== "none" ? `, ${u.parity} parity` : ""
      }: start its driver (RN8209, BL0942, CSE7766) once identified`,
    );
    warnings.push("the UART metering chip is not named in the config: choose its driver by hand");
  }
  const autoexec = lines.join("\n") + (lines.length ? "\n" : "");
  const module = insp.chip === "bk7231t" ? "BK7231T" : "BK7231N";
  const model = `${insp.module ?? "Tuya"} ${insp.productKey ? `(${insp.productKey})` : ""}`.trim();
  const base = {
    id: `backup-${slug(insp.productKey ?? insp.module ?? "device")}`,
    model: `${model}, from its stock backup`,
    module,
    gpio,
    channels,
    autoexec,
    sources: [`stock backup: Tuya store at 0x${insp.storeOffset.toString(16)}`],
    notes: [...warnings],
  } satisfies Partial<DeviceProfileInput>;
  let profile: DeviceProfileInput | undefined;
  if (insp.tuyaMcu) {
    profile = {
      ...base,
      transport: { kind: "tuyamcu", baud: insp.tuyaMcu.baud ?? 9600, queryMs: 5000, datapoints },
    };
  } else if (bl0937.every(Boolean)) {
    profile = { ...base, transport: { kind: "pulse", chip: "BL0937" } };
  }
  return { gpio, channels, autoexec, profile, warnings };
}

function tuyaLine(e: DatapointSchemaEntry, ch: number): { lines: string[]; mapping?: DpMapping; warning?: string } {
  const g = schemaQuantity(e);
  if (g?.quantity === "relay") {
    return {
      lines: [`setChannelType ${ch} toggle`, `linkTuyaMCUOutputToChannel ${e.id} bool ${ch}`],
      mapping: { dp: e.id, type: "bool", quantity: "relay", scale: 1, label: "from the backup's schema" },
    };
  }
  if (g) {
    const t = channelType(g.quantity, g.scale);
    if (!t) return { lines: [], warning: `dp${e.id}: ${g.quantity} at ×${g.scale} has no OpenBeken channel type` };
    return {
      lines: [`setChannelType ${ch} ${t}`, `linkTuyaMCUOutputToChannel ${e.id} val ${ch}`],
      warning: g.from === "range"
        ? `dp${e.id} read as ${g.quantity} from its scale ${e.scale} and max ${e.max} (no unit stored): check it against a capture`
        : undefined,
      mapping: {
        dp: e.id,
        type: "value",
        quantity: g.quantity,
        scale: g.scale,
        label: `from the backup's schema (${g.from === "unit" ? `unit ${e.unit}` : `scale ${e.scale}, max ${e.max}`})`,
      },
    };
  }
  if (e.type === "raw" && e.mode === "ro") {
    return {
      lines: [],
      warning: `dp${e.id} is RAW: choose its RAW_* decoder from a capture (deno task agent map-dps)`,
    };
  }
  return { lines: [] };
}
