/**
 * `deno task decode tuyamcu|<chip> <hex or file> [--power-unit W] [--cal V,I,P | --profile <id>]`, where
 * <chip> is a chip registry entry's command-line name (run without arguments to list them).
 *
 * Metering chips print volts, amps and watts (`values`, or `reading` per register) with the calibration
 * named in each line: `--cal` factors, a profile's factors, or by default the built-in profile measured
 * for that chip (shared/meterchips/engineering.ts), else the chip's defaults. TuyaMCU raw power is
 * 1 W per count unless `--power-unit` says otherwise (OpenBeken's own decoding).
 *
 * Prints one JSON object per frame. Exits 1 when any frame could not be
 * decoded (bad checksum, truncated frame or datapoint), 2 on bad usage.
 */
import { parseArgs } from "node:util";
import { TuyaFrameParser } from "../shared/tuyamcu/frame.ts";
import { toHex } from "../shared/tuyamcu/dp.ts";
import { parseRegisterCapture } from "../shared/meterchips/register.ts";
import { CHIP_CLI_NAMES, chipByCli } from "../shared/meterchips/registry.ts";
import {
  type Calibration,
  defaultCalibration,
  packetValues,
  parseCalibrationArg,
  registerReading,
} from "../shared/meterchips/engineering.ts";
import { DEFAULT_POWER_UNIT_W } from "../shared/tuyamcu/raw_power.ts";
import { getProfile } from "../shared/profiles/mod.ts";
import { readCapture } from "./capture/input.ts";
import { type Described, describeTuyaEvent } from "./capture/describe.ts";

const PROTOCOLS = ["tuyamcu", ...CHIP_CLI_NAMES];

export function decodeCapture(
  protocol: string,
  bytes: Uint8Array,
  opts: { powerUnitW?: number; calibration?: Calibration } = {},
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
      const d = describeTuyaEvent(e, at, opts.powerUnitW ?? DEFAULT_POWER_UNIT_W);
      if (d) items.push(d);
    }
    return { items, noise };
  }
  const chip = chipByCli(protocol);
  if (!chip) throw new Error(`unknown protocol ${protocol}; known: ${PROTOCOLS.join(", ")}`);
  const proto = chip.protocol;
  const cal = opts.calibration ?? defaultCalibration(chip);
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
      const sample = proto.sample(e.packet);
      items.push({
        offset: at,
        ok: true,
        checksumOk: true,
        packet: e.packet,
        values: packetValues(chip, sample.raw, cal, sample.frequency),
        calibration: cal,
      });
    }
  } else {
    for (const e of parseRegisterCapture(proto.chip, bytes)) {
      const at = track(e.raw, e.kind);
      if (e.kind === "noise") noise += e.raw.length;
      else if (e.kind === "error") {
        items.push({ offset: at, ok: false, error: `${e.error.code}: ${e.error.message}`, raw: toHex(e.raw) });
      } else if (e.kind === "read") {
        const reading = registerReading(chip, e.value.name, e.value.value, cal);
        items.push({
          offset: at,
          ok: true,
          checksumOk: true,
          op: "read",
          register: e.value.reg,
          name: e.value.name,
          value: e.value.value,
          raw: toHex(e.raw),
          ...(reading ? { reading, calibration: cal } : {}),
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
    options: { "power-unit": { type: "string" }, cal: { type: "string" }, profile: { type: "string" } },
    allowPositionals: true,
  });
  const [protocol, input] = positionals;
  if (!PROTOCOLS.includes(protocol) || !input) {
    console.error(
      `usage: deno task decode <${PROTOCOLS.join("|")}> <hex or file> [--power-unit W] [--cal V,I,P | --profile id]`,
    );
    Deno.exit(2);
  }
  let bytes: Uint8Array;
  let calibration: Calibration | undefined;
  try {
    if (args.cal) calibration = parseCalibrationArg(args.cal);
    else if (args.profile) {
      const t = getProfile(args.profile).transport;
      if (t.kind !== "chip" || !t.factors) throw new Error(`profile ${args.profile} has no chip factors`);
      calibration = { factors: t.factors, source: `profile ${args.profile}` };
    }
    const cap = await readCapture(input);
    bytes = cap.bytes;
    for (const l of cap.skippedLines) console.error(`note: skipped non-hex line: ${l.slice(0, 60)}`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const { items, noise } = decodeCapture(protocol, bytes, {
    powerUnitW: args["power-unit"] ? Number(args["power-unit"]) : undefined,
    calibration,
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
