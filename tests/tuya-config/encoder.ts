/**
 * A test-only writer of Tuya's encrypted key-value store, built from the public description
 * of the format (tuya-cloudcutter/bk7231tools analysis/kvstorage.py, BK7231GUIFlashTool
 * Utils/TuyaConfig.cs) and written separately from the decoder in shared/tuya-config: it
 * encrypts with node:crypto (the decoder has its own AES), and shares no constants with it.
 *
 * Store = one key sector + `dataBlocks` data sectors + 3 swap sectors, each 4096 bytes:
 *   key sector, AES-128-ECB under "qwertyuiopasdfgh": u32 0x13579753, u32 byte-sum of the
 *     16-byte device key, the device key, then 0xFF.
 *   data sector, AES-128-ECB under key[i] = "8710_2M"[i % 4] + "HHRRQbyemofrtytf"[i] + devkey[i]:
 *     u32 magic (0x98761234, or 0x135726AB), u32 byte-sum of bytes 8..4095, u16 block id,
 *     u32 generation, u8 bitmap length, bitmap (bit n: page n is an index page); 31 more
 *     128-byte pages. Index page: u32 value byte-sum, u32 length, u16 block, u8 page,
 *     u16 part count, u32 element, u8 name length with NUL, name, parts (u16 block, u8 first, u8 last).
 */
import { createCipheriv } from "node:crypto";

const enc = new TextEncoder();
const SECTOR_BYTES = 4096;
const PAGE_BYTES = 128;
const PAGES_PER_SECTOR = SECTOR_BYTES / PAGE_BYTES;

export interface EncEntry {
  name: string;
  value: string | Uint8Array;
  /** Write a wrong byte-sum into the index page. */
  badChecksum?: boolean;
  element?: number;
}

export interface EncStoreSpec {
  entries: EncEntry[];
  deviceKey?: Uint8Array;
  /** "new" writes the 0x135726AB data magic used by newer SDKs. */
  magic?: "classic" | "new";
  dataBlocks?: number;
  /** Put each value's pages into different blocks, out of order (exercises the part lists). */
  scatter?: boolean;
  /** The base-key text (first 4 bytes used); another chip family's is e.g. "8721D". */
  baseKey?: string;
  /** Write an older-generation copy of this block into the first swap sector, holding these entries instead. */
  staleCopy?: { blockId: number; entries: EncEntry[] };
}

export interface EncodedStore {
  bytes: Uint8Array;
  /** Where each entry's data pages went: sector index inside the store (1 = first data sector) and page. */
  pagesOf: Map<string, { sector: number; page: number }[]>;
}

function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  const out = c.update(data);
  c.final();
  return new Uint8Array(out);
}

function sum(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s = (s + bytes[i]) >>> 0;
  return s;
}

function le32(b: Uint8Array, at: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0, true);
}
function le16(b: Uint8Array, at: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint16(at, v, true);
}

export const DEFAULT_DEVICE_KEY = Uint8Array.from([...Array(16).keys()].map((i) => (i * 37 + 11) & 0xff));

interface PlainBlock {
  id: number;
  generation: number;
  bytes: Uint8Array;
  indexPages: number[];
}

/** Lays entries out over `count` plaintext blocks. */
function layout(entries: EncEntry[], count: number, scatter: boolean, generation: number) {
  const blocks: PlainBlock[] = Array.from({ length: count }, (_, id) => ({
    id,
    generation,
    bytes: new Uint8Array(SECTOR_BYTES).fill(0xff),
    indexPages: [],
  }));
  const used = blocks.map(() => new Set<number>([0]));
  const free = (b: number) => {
    for (let p = 1; p < PAGES_PER_SECTOR; p++) if (!used[b].has(p)) return p;
    return -1;
  };
  const pagesOf = new Map<string, { sector: number; page: number }[]>();
  let cursor = 0;
  let element = 0x410000;
  for (const e of entries) {
    const value = typeof e.value === "string" ? enc.encode(e.value) : e.value;
    const dataPages = Math.ceil(value.length / PAGE_BYTES);
    // the index page goes in the block the cursor points at
    let ib = cursor % count;
    while (free(ib) < 0) ib = (ib + 1) % count;
    const ip = free(ib);
    used[ib].add(ip);
    const places: { block: number; page: number }[] = [];
    for (let n = 0; n < dataPages; n++) {
      let b = scatter ? (cursor + 3 + n * 5) % count : ib;
      while (free(b) < 0) b = (b + 1) % count;
      const p = free(b);
      used[b].add(p);
      places.push({ block: b, page: p });
    }
    cursor++;
    // runs of consecutive pages in one block become one part
    const parts: [number, number, number][] = [];
    for (const pl of places) {
      const last = parts[parts.length - 1];
      if (last && last[0] === pl.block && last[2] + 1 === pl.page) last[2] = pl.page;
      else parts.push([pl.block, pl.page, pl.page]);
    }
    places.forEach((pl, n) => {
      const chunk = value.subarray(n * PAGE_BYTES, (n + 1) * PAGE_BYTES);
      const page = new Uint8Array(PAGE_BYTES); // tail of the last page is zero
      page.set(chunk);
      blocks[pl.block].bytes.set(page, pl.page * PAGE_BYTES);
    });
    const name = enc.encode(e.name);
    const idx = new Uint8Array(PAGE_BYTES);
    le32(idx, 0, e.badChecksum ? sum(value) + 7 : sum(value));
    le32(idx, 4, value.length);
    le16(idx, 8, ib);
    idx[10] = ip;
    le16(idx, 11, parts.length);
    le32(idx, 13, e.element ?? element++);
    idx[17] = name.length + 1;
    idx.set(name, 18);
    parts.forEach(([b, first, last], n) => {
      const at = 18 + name.length + 1 + 4 * n;
      le16(idx, at, b);
      idx[at + 2] = first;
      idx[at + 3] = last;
    });
    if (18 + name.length + 1 + 4 * parts.length > PAGE_BYTES) throw new Error(`${e.name}: too many parts for one page`);
    blocks[ib].bytes.set(idx, ip * PAGE_BYTES);
    blocks[ib].indexPages.push(ip);
    pagesOf.set(e.name, places.map((pl) => ({ sector: pl.block + 1, page: pl.page })));
  }
  return { blocks, pagesOf };
}

function sealBlock(b: PlainBlock, magic: number, key: Uint8Array): Uint8Array {
  const s = b.bytes;
  s.fill(0, 0, PAGE_BYTES);
  le32(s, 0, magic);
  le16(s, 8, b.id);
  le32(s, 10, b.generation);
  s[14] = 4; // 32 bits of page map
  for (const p of b.indexPages) s[15 + (p >> 3)] |= 1 << (p & 7);
  le32(s, 4, sum(s, 8));
  return aesEcbEncrypt(key, s);
}

export function encodeStore(spec: EncStoreSpec): EncodedStore {
  const count = spec.dataBlocks ?? 14;
  const devKey = spec.deviceKey ?? DEFAULT_DEVICE_KEY;
  const base = enc.encode(spec.baseKey ?? "8710_2M");
  const tail = enc.encode("HHRRQbyemofrtytf");
  const dataKey = new Uint8Array(16).map((_, i) => (base[i % 4] + tail[i] + devKey[i]) & 0xff);
  const magic = spec.magic === "new" ? 0x135726ab : 0x98761234;

  const out = new Uint8Array(SECTOR_BYTES * (1 + count + 3)).fill(0xff);
  const keySector = new Uint8Array(SECTOR_BYTES).fill(0xff);
  le32(keySector, 0, 0x13579753);
  le32(keySector, 4, sum(devKey));
  keySector.set(devKey, 8);
  out.set(aesEcbEncrypt(enc.encode("qwertyuiopasdfgh"), keySector), 0);

  const { blocks, pagesOf } = layout(spec.entries, count, spec.scatter ?? false, 5);
  blocks.forEach((b, i) => out.set(sealBlock(b, magic, dataKey), SECTOR_BYTES * (1 + i)));
  if (spec.staleCopy) {
    const stale = layout(spec.staleCopy.entries, 1, false, 2).blocks[0];
    stale.id = spec.staleCopy.blockId;
    // the stale copy's index pages must name the block id it pretends to be
    for (const p of stale.indexPages) le16(stale.bytes, p * PAGE_BYTES + 8, stale.id);
    for (const p of stale.indexPages) {
      const at = p * PAGE_BYTES;
      const nameLen = stale.bytes[at + 17];
      const parts = stale.bytes[at + 11] | (stale.bytes[at + 12] << 8);
      for (let n = 0; n < parts; n++) le16(stale.bytes, at + 18 + nameLen + 4 * n, stale.id);
    }
    out.set(sealBlock(stale, magic, dataKey), SECTOR_BYTES * (1 + count));
  }
  return { bytes: out, pagesOf };
}

/** Flip bytes of one page's ciphertext (one AES block of it), as a worn sector would. */
export function damagePage(store: Uint8Array, sector: number, page: number) {
  const at = sector * SECTOR_BYTES + page * PAGE_BYTES + 16;
  for (let i = 0; i < 16; i++) store[at + i] ^= 0x5a;
}

/** Unquoted pseudo-JSON as Tuya stores `user_param_key`. */
export function upk(fields: Record<string, string | number>): string {
  return `{${Object.entries(fields).map(([k, v]) => `${k}:${v}`).join(",")},}`;
}

export interface EncSchemaDp {
  id: number;
  mode: "ro" | "rw" | "wr";
  type: "bool" | "value" | "enum" | "bitmap" | "string" | "raw";
  scale?: number;
  min?: number;
  max?: number;
  unit?: string;
  range?: string[];
}

/** A Tuya schema list as stored under the schema id. */
export function schemaJson(dps: EncSchemaDp[]): string {
  return JSON.stringify(dps.map((d) => {
    if (d.type === "raw") return { mode: d.mode, id: d.id, type: "raw" };
    const property: Record<string, unknown> = { type: d.type };
    if (d.type === "value") Object.assign(property, { min: d.min ?? 0, max: d.max ?? 0, scale: d.scale ?? 0, step: 1 });
    if (d.unit) property.unit = d.unit;
    if (d.range) property.range = d.range;
    if (d.type === "bitmap") property.maxlen = 8;
    return { type: "obj", mode: d.mode, property, id: d.id };
  }));
}

export interface DeviceInfo {
  pk: string;
  firmk?: string;
  swv: string;
  devSwv?: string;
  schemaId?: string;
  dtp?: number;
}

/** `gw_di` as stock firmware writes it (null for unset strings). */
export function gwDi(d: DeviceInfo): string {
  return JSON.stringify({
    abi: 0,
    id: null,
    swv: d.swv,
    bv: "40.00",
    pv: "2.2",
    lpv: "3.3",
    pk: d.pk,
    firmk: d.firmk ?? d.pk,
    cadv: "1.0.3",
    cdv: "1.0.0",
    dev_swv: d.devSwv ?? d.swv,
    s_id: d.schemaId ?? null,
    dtp: d.dtp ?? 0,
    sync: 0,
    attr_num: 0,
    mst_tp_0: 0,
    mst_ver_0: null,
  });
}
