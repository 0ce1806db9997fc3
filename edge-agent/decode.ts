/**
 * `deno task decode tuyamcu|<chip> <hex or file> [--power-unit W]`, where <chip> is a
 * chip registry entry's command-line name (run without arguments to list them).
 *
 * Prints one JSON object per frame. Exits 1 when any frame could not be
 * decoded (bad checksum, truncated frame or datapoint), 2 on bad usage.
 */
import { parseArgs } from "node:util";
import { TuyaFrameParser } from "../shared/tuyamcu/frame.ts";
import { toHex } from "../shared/tuyamcu/dp.ts";
import { parseRegisterCapture } from "../shared/meterchips/register.ts";
import { CHIP_CLI_NAMES, chipByCli } from "../shared/meterchips/registry.ts";
import { readCapture } from "./capture/input.ts";
import { type Described, describeTuyaEvent } from "./capture/describe.ts";

const PROTOCOLS = ["tuyamcu", ...CHIP_CLI_NAMES];

export function decodeCapture(
  protocol: string,
  bytes: Uint8Array,
  opts: { powerUnitW?: number } = {},
): { items: Described[]; noise: number } {
  const items: Described[] = [];
  let noise = 0;
  let offset = 0;
  const track = (raw: Uint8Array, kind: string) => {
    const at = offset;
    // errors consume one byte (resync); frames, packets and noise consume all of theirs
    offset += kind === "error" ? 1 : raw.length;
    return at;
  };
  if (protocol === "tuyamcu") {
    const p = new TuyaFrameParser();
    for (const e of [...p.push(bytes), ...p.flush()]) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") noise += e.raw.length;
      const d = describeTuyaEvent(e, at, opts.powerUnitW ?? 0.1);
      if (d) items.push(d);
    }
    return { items, noise };
  }
  const chip = chipByCli(protocol);
  if (!chip) throw new Error(`unknown protocol ${protocol}; known: ${PROTOCOLS.join(", ")}`);
  const proto = chip.protocol;
  if (proto.kind === "packets") {
    const p = proto.parser();
    for (const e of [...p.push(bytes), ...p.flush()]) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") {
        noise += e.raw.length;
        continue;
      }
      if (e.kind === "error") {
        items.push({
          offset: at,
          ok: false,
          checksumOk: e.error.code === "bad_checksum" ? false : undefined,
          error: `${e.error.code}: ${e.error.message}`,
          raw: toHex(e.raw),
        });
        continue;
      }
      items.push({ offset: at, ok: true, checksumOk: true, packet: e.packet, values: proto.describe(e.packet) });
    }
  } else {
    for (const e of parseRegisterCapture(proto.chip, bytes)) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") noise += e.raw.length;
      else if (e.kind === "error") {
        items.push({ offset: at, ok: false, error: `${e.error.code}: ${e.error.message}`, raw: toHex(e.raw) });
      } else if (e.kind === "read") {
        items.push({
          offset: at,
          ok: true,
          checksumOk: true,
          op: "read",
          register: e.value.reg,
          name: e.value.name,
          value: e.value.value,
          raw: toHex(e.raw),
        });
      } else {items.push({
          offset: at,
          ok: true,
          checksumOk: true,
          op: "write",
          register: e.reg,
          name: e.name,
          value: e.value,
          raw: toHex(e.raw),
        });}
    }
  }
  return { items, noise };
}

if (import.meta.main) {
  const { values: args, positionals } = parseArgs({
    args: Deno.args,
    options: { "power-unit": { type: "string" } },
    allowPositionals: true,
  });
  const [protocol, input] = positionals;
  if (!PROTOCOLS.includes(protocol) || !input) {
    console.error(`usage: deno task decode <${PROTOCOLS.join("|")}> <hex or file> [--power-unit W]`);
    Deno.exit(2);
  }
  let bytes: Uint8Array;
  try {
    const cap = await readCapture(input);
    bytes = cap.bytes;
    for (const l of cap.skippedLines) console.error(`note: skipped non-hex line: ${l.slice(0, 60)}`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const { items, noise } = decodeCapture(protocol, bytes, {
    powerUnitW: args["power-unit"] ? Number(args["power-unit"]) : undefined,
  });
  let failed = 0;
  for (const it of items) {
    console.log(JSON.stringify(it));
    if (!it.ok) {
      failed++;
      console.error(`error: frame at byte ${it.offset} cannot be decoded: ${it.error}`);
    }
  }
  if (noise) console.error(`note: ${noise} byte(s) outside any frame were skipped`);
  if (!items.some((i) => i.ok)) console.error("error: no decodable frame in the input");
  Deno.exit(failed || !items.some((i) => i.ok) ? 1 : 0);
}
