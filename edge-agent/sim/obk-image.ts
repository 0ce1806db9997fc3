/**
 * Fake OpenBeken release artefacts for simulators, tests and benchmarks: an
 * RBL package the way Beken's packaging tool lays it out (96-byte header,
 * RT-Thread rt_ota layout; see shared/rbl.ts for sources) and UART images.
 *
 * Real packages are AES-encrypted, so a real device learns what it booted
 * only after unpacking. Our package body starts with a plain marker
 * `OBKSIM <chip> <version>\n` that the simulated bootloader reads instead.
 * Written independently of shared/rbl.ts's parser (device side vs server side).
 */
import { crc32Zlib } from "../../shared/bk7231/crc32.ts";

export interface FakeRblOptions {
  chip: string; // "BK7231N"
  version: string; // "1.18.300"
  /** package bytes after the header (default 8 KiB; real ones are ~500 KiB) */
  size?: number;
  /** the version string written into the header's version field (default: same as version) */
  headerVersion?: string;
  timestamp?: number;
}

export function fakeRblName(chip: string, version: string) {
  return `Open${chip}_${version}.rbl`;
}

function filler(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function buildFakeRbl(o: FakeRblOptions): Uint8Array {
  const size = o.size ?? 8192;
  const marker = new TextEncoder().encode(`OBKSIM ${o.chip} ${o.version}\n`);
  const body = filler(Math.max(size, marker.length), crc32Zlib(marker));
  body.set(marker, 0);
  const head = new Uint8Array(96);
  const dv = new DataView(head.buffer);
  head.set([0x52, 0x42, 0x4c, 0x00], 0);
  head[4] = 2; // AES256
  head[5] = 1; // gzip
  dv.setUint32(8, o.timestamp ?? 1_753_353_715, true);
  const put = (s: string, off: number, len: number) => head.set(new TextEncoder().encode(s).subarray(0, len - 1), off);
  put("app", 12, 16);
  put(o.headerVersion ?? o.version, 28, 24);
  put("00000000000000000000000", 52, 24);
  dv.setUint32(76, crc32Zlib(body), true);
  dv.setUint32(80, 0x811c9dc5, true);
  dv.setUint32(84, body.length * 2, true); // raw is bigger than the compressed package
  dv.setUint32(88, body.length, true);
  dv.setUint32(92, crc32Zlib(head.subarray(0, 92)), true);
  const out = new Uint8Array(96 + body.length);
  out.set(head, 0);
  out.set(body, 96);
  return out;
}

/** A `_QIO_`/`_UA_` UART image stand-in: plain bytes, no RBL header. */
export function buildFakeUartImage(o: { chip: string; version: string; kind: "QIO" | "UA"; size?: number }) {
  const bytes = filler(o.size ?? 16384, 7);
  bytes.set([0x06, 0x00, 0x00, 0xea], 0); // an ARM branch, as flash images begin
  return { name: `Open${o.chip}_${o.kind}_${o.version}.bin`, bytes };
}

/** What the simulated bootloader sees after "unpacking": chip and version, or null for a foreign package. */
export function readSimMarker(pkg: Uint8Array): { chip: string; version: string } | null {
  const head = new TextDecoder().decode(pkg.subarray(0, 64));
  const m = /^OBKSIM (\S+) (\S+)\n/.exec(head);
  return m ? { chip: m[1], version: m[2] } : null;
}
