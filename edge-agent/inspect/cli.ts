/**
 * `deno task agent inspect-backup <file> [--json]`: what a stock BK7231 backup says about its
 * device (Tuya's stored config, shared/tuya-config) and the OpenBeken template proposed from it.
 * The Wi-Fi SSID is reported only as present/absent; passwords are never read out.
 */
import { parseArgs } from "node:util";
import { type BackupInspection, inspectBackup, obkProposal } from "../../shared/tuya-config/mod.ts";
import { CodecError } from "../../shared/errors.ts";

export async function runInspectCli(args: string[]) {
  const { values: a, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean" } },
  });
  if (a.help || !positionals[0]) {
    console.log("deno task agent inspect-backup <backup.bin> [--json]");
    return;
  }
  const file = positionals[0];
  const bytes = await Deno.readFile(file);
  let result;
  try {
    result = inspectBackup(bytes);
  } catch (e) {
    if (e instanceof CodecError) throw new Error(`${file}: ${e.message} (${e.code})`);
    throw e;
  }
  if (!result.found) {
    if (a.json) console.log(JSON.stringify(result, null, 2));
    else console.log(`${file}: ${result.reason}`);
    return;
  }
  const proposal = obkProposal(result);
  if (a.json) return console.log(JSON.stringify({ ...result, proposal }, null, 2));
  console.log(formatInspection(file, result));
  console.log("\nProposed OpenBeken template:");
  const pins = Object.entries(proposal.gpio).map(([pin, role]) =>
    `P${pin} ${role}${proposal.channels[pin] !== undefined ? ` ch${proposal.channels[pin]}` : ""}`
  );
  console.log(`  pins: ${pins.join(", ") || "(none)"}`);
  console.log("  autoexec.bat:");
  for (const l of proposal.autoexec.trimEnd().split("\n")) if (l) console.log(`    ${l}`);
  for (const w of proposal.warnings) console.log(`  ! ${w}`);
}

export function formatInspection(file: string, r: BackupInspection): string {
  const out: string[] = [];
  const v = r.versions;
  out.push(
    `${file}: Tuya config at 0x${r.storeOffset.toString(16)} (${r.blocks} blocks)${r.complete ? "" : " — PARTIAL"}`,
  );
  out.push(`  chip ${r.chip ?? "?"}, module ${r.module ?? "?"}${r.category ? `, category ${r.category}` : ""}`);
  out.push(`  product key ${r.productKey ?? "?"}, firmware key ${r.firmwareKey ?? "?"}`);
  out.push(
    `  versions: Wi-Fi ${v.wifi ?? "?"}${v.mcu ? `, MCU ${v.mcu}` : ""}${v.baseline ? `, baseline ${v.baseline}` : ""}${
      v.channels.map((c) => `, channel ${c.type} ${c.version}`).join("")
    }`,
  );
  if (r.tuyaMcu) out.push(`  TuyaMCU at ${r.tuyaMcu.baud ?? "?"} baud (${r.tuyaMcu.source})`);
  if (r.uart) {
    out.push(
      `  UART1 metering chip: ${r.uart.baud ?? "?"} baud, parity ${r.uart.parity ?? "?"}, ${
        r.uart.dataBits ?? "?"
      } data bits`,
    );
  }
  out.push(`  Wi-Fi SSID: ${r.wifi.ssid} (passwords are never read out)`);
  out.push("  pins:");
  if (!r.pins.length) out.push("    (none in the config)");
  for (const p of r.pins) {
    out.push(
      `    P${String(p.gpio).padEnd(3)} ${p.meaning.padEnd(36)} active ${p.activeLevel ?? "-"}  ${p.key}${
        p.obkRole ? ` → ${p.obkRole}` : ""
      }`,
    );
  }
  if (r.schema.length) {
    out.push(`  datapoint schema ${r.schemaId ?? ""}:`);
    for (const d of r.schema) {
      const range = d.min !== undefined || d.max !== undefined ? ` ${d.min ?? ""}..${d.max ?? ""}` : "";
      out.push(
        `    dp${String(d.id).padEnd(4)} ${d.mode.padEnd(3)} ${d.type.padEnd(7)}${
          d.scale !== undefined ? ` scale ${d.scale}` : ""
        }${range}${d.unit ? ` ${d.unit}` : ""}${d.range ? ` [${d.range.join(", ")}]` : ""}`,
      );
    }
  }
  if (r.staleSchemaIds.length) out.push(`  stale schemas (not used): ${r.staleSchemaIds.join(", ")}`);
  for (const p of r.problems) out.push(`  ! ${p}`);
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join("\n");
}
