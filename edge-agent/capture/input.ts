/**
 * Reads a capture as people paste it: a hex string on the command line, or a
 * file of hex lines (spaces, 0x, commas and colons allowed; lines with prose such
 * as "(press button)" are skipped) or raw binary bytes.
 */
import { CodecError } from "../../shared/errors.ts";
import { fromHex } from "../../shared/tuyamcu/dp.ts";

const HEX_LINE = /^(?:0x)?[0-9a-fA-F]{2}(?:[\s,:;-]*(?:0x)?[0-9a-fA-F]{2})*$/;

export interface Capture {
  bytes: Uint8Array;
  skippedLines: string[];
}

export function hexCapture(text: string): Capture {
  const skippedLines: string[] = [];
  const parts: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (HEX_LINE.test(line)) parts.push(line);
    else skippedLines.push(line);
  }
  if (!parts.length) throw new CodecError("no_hex", "no hex bytes found in the input");
  return { bytes: fromHex(parts.join("")), skippedLines };
}

/** `arg` is a file path if such a file exists, else hex text. */
export async function readCapture(arg: string): Promise<Capture> {
  let data: Uint8Array | null = null;
  try {
    data = await Deno.readFile(arg);
  } catch {
    data = null;
  }
  if (data === null) return hexCapture(arg);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(data);
  // a binary capture has bytes outside printable text
  const binary = data.some((b) => b < 0x09 || (b > 0x0d && b < 0x20) || b > 0x7e);
  return binary ? { bytes: data, skippedLines: [] } : hexCapture(text);
}
