/**
 * One JSON-friendly object per frame or packet, for the decode CLI and the
 * mapping assistant: command, version, checksum status and decoded datapoints
 * (numbers for value/enum, booleans for bool, text for string, hex for raw/bitmap).
 */
import { commandName, type TuyaStreamEvent } from "../../shared/tuyamcu/frame.ts";
import { decodeDatapoints, decodeRecordReport, toHex } from "../../shared/tuyamcu/dp.ts";
import { decodeRawPower } from "../../shared/tuyamcu/raw_power.ts";
import { parseProductInfo } from "../../shared/tuyamcu/messages.ts";
import type { CodecError } from "../../shared/errors.ts";

export interface Described {
  offset: number;
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

export function describeTuyaEvent(e: TuyaStreamEvent, offset: number, powerUnitW: number): Described | null {
  if (e.kind === "noise") return null;
  if (e.kind === "error") {
    return {
      offset,
      ok: false,
      checksumOk: e.error.code === "bad_checksum" ? false : undefined,
      error: `${e.error.code}: ${e.error.message}`,
      raw: toHex(e.raw),
    };
  }
  const f = e.frame;
  const out: Described = {
    offset,
    ok: true,
    version: f.version,
    command: f.command,
    commandName: commandName(f.command),
    checksumOk: true,
    length: f.data.length,
  };
  const dpCommands = [0x06, 0x07, 0x22].concat(f.version === 0 ? [0x05] : []);
  // v0 0x08 with data: a battery MCU's stored record (an empty 0x08 is the module's query)
  const record = f.version === 0 && f.command === 0x08 && f.data.length > 0;
  if (dpCommands.includes(f.command) || record) {
    try {
      let dps;
      if (record) {
        const r = decodeRecordReport(f.data);
        out.recordDate = r.recordDate;
        dps = r.datapoints;
      } else dps = decodeDatapoints(f.data);
      out.datapoints = dps.map((d) => {
        const o: Record<string, unknown> = { id: d.id, type: d.type, value: d.value };
        if (d.type === "raw" && [6, 8, 10, 15].includes(d.bytes.length)) {
          try {
            const r = decodeRawPower(d.bytes, undefined, { powerUnitW });
            o.rawPower = { format: r.format, raw: r.raw, voltage: r.voltage, current: r.current, power: r.power };
          } catch { /* not a power layout */ }
        }
        return o;
      });
    } catch (err) {
      out.ok = false;
      out.error = `${(err as CodecError).code}: ${(err as Error).message}`;
      out.data = toHex(f.data);
    }
  } else if (f.command === 0x01 && f.version !== 0) {
    out.product = parseProductInfo(f.data);
  } else if (f.data.length) {
    out.data = toHex(f.data);
  }
  return out;
}
