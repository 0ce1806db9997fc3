/**
 * OpenBeken firmware artefacts: the RBL OTA package header (parse + verify)
 * and recognition of UART flash images (`_QIO_` full image, `_UA_` app-only).
 *
 * RBL = RT-Thread's OTA package ("rt_ota"), which Beken's SDK packaging tool
 * writes for BK7231T/N: a 96-byte little-endian header, then the package
 * (gzip-compressed and AES-encrypted application). Layout, as in RT-Thread's
 * `struct rt_ota_rbl_hdr` (rt_ota.h) and libretiny-eu/ltchiptool's RBL class
 * (`Struct("<4sbbxxI16s24s24sIIII")` + header CRC; it credits
 * khalednassar/bk7231tools analysis/rbl.py):
 *
 *   off size field
 *    0   4   magic "RBL\0"
 *    4   4   algo: byte 4 = encryption (0 none, 1 XOR, 2 AES256),
 *                  byte 5 = compression (0 none, 1 gzip, 2 quicklz, 3 fastlz)  (rt_ota: algo & 0xF / algo & 0xF00)
 *    8   4   timestamp (unix seconds)
 *   12  16   name (NUL padded), "app" on OpenBeken
 *   28  24   version (NUL padded)
 *   52  24   sn (NUL padded)
 *   76   4   crc32 of the package bytes that follow the header (zlib CRC-32)
 *   80   4   hash: FNV-1a of the raw (unpacked) firmware — needs the AES key to check, so we only report it
 *   84   4   size_raw: length of the raw firmware
 *   88   4   size_package: length of the package after the header
 *   92   4   info_crc32: zlib CRC-32 of header bytes 0..91
 *
 * Pure code, no I/O. Errors are CodecError with stable codes.
 */
import { CodecError } from "./errors.ts";
import { crc32Zlib } from "./bk7231/crc32.ts";

export const RBL_HEADER_SIZE = 96;
export const RBL_MAGIC = [0x52, 0x42, 0x4c, 0x00]; // "RBL\0"

export type RblEncryption = "none" | "xor" | "aes256" | `unknown-${number}`;
export type RblCompression = "none" | "gzip" | "quicklz" | "fastlz" | `unknown-${number}`;

export interface RblHeader {
  encryption: RblEncryption;
  compression: RblCompression;
  timestamp: number;
  name: string;
  version: string;
  sn: string;
  packageCrc32: number;
  rawHash: number;
  rawSize: number;
  packageSize: number;
  headerCrc32: number;
}

const ENC: RblEncryption[] = ["none", "xor", "aes256"];
const CMP: RblCompression[] = ["none", "gzip", "quicklz", "fastlz"];

function cString(b: Uint8Array, field: string): string {
  const end = b.indexOf(0);
  const s = b.subarray(0, end === -1 ? b.length : end);
  for (const c of s) {
    if (c < 0x20 || c > 0x7e) throw new CodecError("rbl_bad_string", `RBL ${field} is not printable ASCII`);
  }
  return new TextDecoder().decode(s);
}

export function isRbl(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && RBL_MAGIC.every((b, i) => bytes[i] === b);
}

/** Parse the 96-byte header and check its own CRC (not the package). */
export function parseRblHeader(bytes: Uint8Array): RblHeader {
  if (bytes.length < RBL_HEADER_SIZE) {
    throw new CodecError("rbl_truncated", `RBL header needs ${RBL_HEADER_SIZE} bytes, got ${bytes.length}`);
  }
  if (!isRbl(bytes)) throw new CodecError("rbl_bad_magic", 'not an RBL package: the file does not start with "RBL\\0"');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, RBL_HEADER_SIZE);
  const headerCrc32 = dv.getUint32(92, true);
  const computed = crc32Zlib(bytes.subarray(0, 92));
  if (computed !== headerCrc32) {
    throw new CodecError(
      "rbl_header_crc",
      `RBL header CRC mismatch: stored 0x${hex8(headerCrc32)}, computed 0x${hex8(computed)}`,
    );
  }
  const e = bytes[4], c = bytes[5];
  return {
    encryption: ENC[e] ?? `unknown-${e}`,
    compression: CMP[c] ?? `unknown-${c}`,
    timestamp: dv.getUint32(8, true),
    name: cString(bytes.subarray(12, 28), "name"),
    version: cString(bytes.subarray(28, 52), "version"),
    sn: cString(bytes.subarray(52, 76), "sn"),
    packageCrc32: dv.getUint32(76, true),
    rawHash: dv.getUint32(80, true),
    rawSize: dv.getUint32(84, true),
    packageSize: dv.getUint32(88, true),
    headerCrc32,
  };
}

/** Parse and verify a whole RBL file: header CRC, package size and package CRC. */
export function verifyRbl(bytes: Uint8Array): RblHeader {
  const h = parseRblHeader(bytes);
  const body = bytes.length - RBL_HEADER_SIZE;
  if (h.packageSize === 0) throw new CodecError("rbl_empty", "RBL package is empty");
  if (body !== h.packageSize) {
    throw new CodecError(
      "rbl_size",
      `RBL header announces ${h.packageSize} package bytes, file has ${body}${
        body < h.packageSize ? " (truncated)" : ""
      }`,
    );
  }
  const crc = crc32Zlib(bytes.subarray(RBL_HEADER_SIZE));
  if (crc !== h.packageCrc32) {
    throw new CodecError(
      "rbl_package_crc",
      `RBL package CRC mismatch: stored 0x${hex8(h.packageCrc32)}, computed 0x${hex8(crc)}`,
    );
  }
  if (h.rawSize === 0) throw new CodecError("rbl_empty", "RBL raw firmware size is 0");
  return h;
}

function hex8(n: number) {
  return n.toString(16).toUpperCase().padStart(8, "0");
}

// ---------------------------------------------------------------- artefact names

export type FirmwareKind = "rbl" | "uart_qio" | "uart_ua" | "tuya_ug" | "unknown";

export interface ArtefactName {
  kind: FirmwareKind;
  /** "BK7231N" from "OpenBK7231N_…" */
  platform: string | null;
  /** USER_SW_VER incl. variant, e.g. "1.18.299_powerMetering" */
  version: string | null;
  /** "powerMetering" etc., null for the plain build */
  variant: string | null;
}

/**
 * Classify an OpenBeken release file name (openbeken.md §3.1): `Open<chip>_<ver>.rbl`
 * (OTA), `Open<chip>_QIO_<ver>.bin` (full UART image), `Open<chip>_UA_<ver>.bin`
 * (app-only UART image), `Open<chip>_UG_<ver>.bin` (Tuya upgrade image: never for OTA).
 */
export function parseArtefactName(filename: string): ArtefactName {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const m = /^Open([A-Z0-9]+)_(?:(QIO|UA|UG)_)?(.+?)\.(rbl|bin|img)$/i.exec(base);
  if (!m) {
    return {
      kind: base.toLowerCase().endsWith(".rbl") ? "rbl" : "unknown",
      platform: null,
      version: null,
      variant: null,
    };
  }
  const [, platform, uart, version, ext] = m;
  const kind: FirmwareKind = uart
    ? ({ QIO: "uart_qio", UA: "uart_ua", UG: "tuya_ug" } as const)[uart.toUpperCase() as "QIO" | "UA" | "UG"]
    : ext.toLowerCase() === "rbl"
    ? "rbl"
    : "unknown";
  const v = /^(\d+\.\d+\.\d+)_([A-Za-z][A-Za-z0-9]*)$/.exec(version);
  return { kind, platform: platform.toUpperCase(), version, variant: v ? v[2] : null };
}

/**
 * What the bytes say, whatever the name says: an RBL starts with its magic;
 * a UART image does not. `_QIO_` images start with the bootloader (flash 0x0),
 * `_UA_` images with the application (flash 0x11000); both are plain ARM
 * code, so we tell them apart by name, and only refuse to treat them as OTA.
 */
export function classifyArtefact(filename: string, bytes: Uint8Array): ArtefactName & { contentIsRbl: boolean } {
  const byName = parseArtefactName(filename);
  const contentIsRbl = isRbl(bytes);
  let kind = byName.kind;
  if (contentIsRbl && kind === "unknown") kind = "rbl";
  if (!contentIsRbl && kind === "rbl") kind = "unknown"; // named .rbl but is not one
  return { ...byName, kind, contentIsRbl };
}

/** "1.18.299_powerMetering" → [1, 18, 299]; null for non-release builds. */
export function semverOf(version: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:_|$)/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}
