/**
 * `deno task agent map-dps <capture hex or file> [--model tuya-model.json] [--backup stock.bin] [--id profile-id]
 *   [--autoexec out.bat] [--profile out.json] [--json]`
 * Prints the proposed dp mapping, the contradictions, and the autoexec.bat. `--backup` adds the
 * datapoint schema stored in the unit's stock backup as evidence.
 */
import { parseArgs } from "node:util";
import { readCapture } from "../capture/input.ts";
import { assistMapping } from "./assist.ts";
import { parseTuyaModelText } from "./tuya_model.ts";
import { inspectBackup } from "../../shared/tuya-config/mod.ts";

export async function runMapCli(args: string[]) {
  const { values: a, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      backup: { type: "string" },
      id: { type: "string" },
      autoexec: { type: "string" },
      profile: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (a.help || !positionals[0]) {
    console.log(
      "deno task agent map-dps <capture hex or file> [--model tuya-model.json] [--backup stock.bin] [--id id] [--autoexec out.bat] [--profile out.json] [--json]",
    );
    return;
  }
  const cap = await readCapture(positionals[0]);
  const model = a.model ? parseTuyaModelText(await Deno.readTextFile(a.model)) : [];
  const backup = a.backup ? inspectBackup(await Deno.readFile(a.backup)) : undefined;
  if (backup && !backup.found) console.error(`${a.backup}: ${backup.reason}; mapping without a schema`);
  const schema = backup?.found ? backup.schema : undefined;
  const r = assistMapping(cap.bytes, model, {
    id: a.id,
    baud: backup?.found ? backup.tuyaMcu?.baud : undefined,
    schema,
  });
  if (a.autoexec) await Deno.writeTextFile(a.autoexec, r.autoexec);
  if (a.profile) await Deno.writeTextFile(a.profile, JSON.stringify(r.profile, null, 2) + "\n");
  if (a.json) return console.log(JSON.stringify(r, null, 2));
  console.log("DPs seen:");
  for (const s of r.seen) console.log(`  dp${s.dp} ${s.type} = ${JSON.stringify(s.value)} (${s.count}×)`);
  console.log("\nProposed mapping:");
  for (const p of r.proposals) {
    const scale = p.quantity === "phase"
      ? `raw ${p.decoder}, power unit ${p.powerUnitW ?? "?"} W`
      : `× ${p.scale ?? 1}`;
    console.log(
      `  dp${p.dp} → ${p.quantity}${
        p.phase !== undefined ? ` [phase ${"ABC"[p.phase]}]` : ""
      } ${scale}   (${p.evidence})`,
    );
  }
  console.log(`\nContradictions (${r.contradictions.length}):`);
  for (const c of r.contradictions) console.log(`  ! ${c}`);
  console.log("\nautoexec.bat:\n" + r.autoexec);
}
