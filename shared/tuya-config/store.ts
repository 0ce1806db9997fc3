/**
 * Tuya's encrypted key-value store ("KV storage") as BK7231 stock firmware keeps it
 * in the last flash sectors (usually a key sector at 0x1EE000, 14 data sectors, then
 * 3 swap sectors). Facts from the public readers: tuya-cloudcutter/bk7231tools
 * bk7231tools/analysis/kvstorage.py and storage.py, openshwprojects/BK7231GUIFlashTool
 * BK7231Flasher/Utils/TuyaConfig.cs.
 *
 * Layout, all little-endian, every sector AES-128-ECB encrypted:
 *   key sector (master key "qwertyuiopasdfgh"):
 *     0 u32 magic 0x13579753 · 4 u32 sum of the 16 key bytes · 8 16-byte device key · then 0xFF padding
 *   data sector (key = "8710"[i & 3] + "HHRRQbyemofrtytf"[i] + device key[i], bytewise mod 256):
 *     0 u32 magic 0x98761234 (or 0x135726AB on newer SDKs) · 4 u32 sum of bytes 8..4095
 *     8 u16 block id · 10 u32 generation (swap copies share a block id; the higher one is live)
 *     14 u8 map size · 15.. bitmap: bit p set = page p is an index page; pages are 128 bytes, page 0 is this header
 *   index page: 0 u32 sum of the value's bytes · 4 u32 value length · 8 u16 block id · 10 u8 page id
 *     11 u16 part count · 13 u32 element (higher = newer) · 17 u8 name length incl. NUL · 18 name
 *     then parts: u16 block id, u8 first page, u8 last page — the value is those data pages in order,
 *     which may sit in other, non-contiguous blocks.
 *
 * Pure: bytes in, entries and a list of what did not check out back. Never throws on damage inside
 * the store; the caller decides what a dump without a store means.
 */
import { Aes128Decryptor } from "./aes.ts";

export const SECTOR = 4096;
const PAGE = 128;
const MAGIC_KEY_SECTOR = 0x13579753;
const MAGIC_DATA = 0x98761234;
const MAGIC_DATA_NEW = 0x135726ab;
const MASTER_KEY = new TextEncoder().encode("qwertyuiopasdfgh");
const KEY_BASE_A = new TextEncoder().encode("8710_2M");
const KEY_BASE_B = new TextEncoder().encode("HHRRQbyemofrtytf");
/** Sectors a standard store spans after its key sector (14 data + 3 swap). */
const STORE_SECTORS_AFTER_KEY = 17;

export interface StoreEntry {
  name: string;
  /** The reassembled value; empty when it could not be read. */
  value: Uint8Array;
  /** The value's byte sum matches the index page. */
  checksumOk: boolean;
  element: number;
  blockId: number;
  page: number;
}

export interface TuyaStore {
  /** Offset of the key sector in the dump. */
  keyOffset: number;
  /** Live data blocks found (after dropping stale swap copies). */
  blocks: number;
  /** Entries by name; values that failed their checksum have checksumOk false. */
  entries: Map<string, StoreEntry>;
  /** What did not check out, for people. */
  problems: string[];
}

const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const hex = (n: number) => `0x${n.toString(16)}`;

function byteSum(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += b[i];
  return s >>> 0;
}

function isErased(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0xff) return false;
  return true;
}

/** The data-sector key for a device key. */
export function dataKey(deviceKey: Uint8Array): Uint8Array {
  const k = new Uint8Array(16);
  for (let i = 0; i < 16; i++) k[i] = (KEY_BASE_A[i & 3] + KEY_BASE_B[i] + deviceKey[i]) & 0xff;
  return k;
}

interface KeySector {
  offset: number;
  deviceKey: Uint8Array;
}

const master = new Aes128Decryptor(MASTER_KEY);

function keySectorAt(dump: Uint8Array, offset: number): KeySector | null {
  if (offset < 0 || offset + 32 > dump.length) return null;
  const head = master.decrypt(dump, offset, 32);
  if (u32(head, 0) !== MAGIC_KEY_SECTOR) return null;
  if (byteSum(head, 8, 24) !== u32(head, 4)) return null;
  return { offset, deviceKey: head.slice(8, 24) };
}

/**
 * Key sectors in the dump: every 4 KiB-aligned sector first (a full dump, one starting at
 * 0x11000, a store-only dump), then — if none — any byte position where the key sector's
 * encrypted 0xFF padding appears (a dump cut at an odd offset).
 */
export function findKeySectors(dump: Uint8Array): KeySector[] {
  const found: KeySector[] = [];
  const block = new Uint8Array(16);
  for (let o = 0; o + SECTOR <= dump.length || (o + 32 <= dump.length && o === 0); o += SECTOR) {
    master.decryptBlock(dump, o, block, 0);
    if (u32(block, 0) !== MAGIC_KEY_SECTOR) continue;
    const k = keySectorAt(dump, o);
    if (k) found.push(k);
  }
  if (found.length) return found;
  // Encrypted padding: 16 bytes of 0xFF under the master key, repeated from byte 32 on.
  const padding = encryptedPadding();
  for (let o = dump.indexOf(padding[0]); o >= 0 && o + 16 <= dump.length; o = dump.indexOf(padding[0], o + 1)) {
    let match = true;
    for (let i = 1; i < 16 && match; i++) match = dump[o + i] === padding[i];
    if (!match) continue;
    const k = keySectorAt(dump, o - 32);
    if (k && !found.some((f) => f.offset === k.offset)) found.push(k);
  }
  return found;
}

let paddingCache: Uint8Array | null = null;
/** 16 0xFF bytes under the master key, found by decrypting candidates: no encryptor needed. */
function encryptedPadding(): Uint8Array {
  // Known value (bk7231tools storage.py KEY_MAGIC), checked against our decryptor once.
  if (paddingCache) return paddingCache;
  const p = Uint8Array.from(
    [0x46, 0xdc, 0xed, 0x0e, 0x67, 0x2f, 0x3b, 0x70, 0xae, 0x12, 0x76, 0xa3, 0xf8, 0x71, 0x2e, 0x03],
  );
  const plain = master.decrypt(p, 0, 16);
  if (!plain.every((b) => b === 0xff)) throw new Error("AES self-check failed");
  return paddingCache = p;
}

interface DataBlock {
  offset: number;
  id: number;
  generation: number;
  checksumOk: boolean;
  data: Uint8Array;
  indexPages: Set<number>;
}

function readDataBlocks(dump: Uint8Array, key: KeySector, problems: string[]): DataBlock[] {
  const aes = new Aes128Decryptor(dataKey(key.deviceKey));
  const start = key.offset % SECTOR;
  const storeEnd = key.offset + (STORE_SECTORS_AFTER_KEY + 1) * SECTOR;
  const head = new Uint8Array(16);
  const blocks: DataBlock[] = [];
  for (let o = start; o + SECTOR <= dump.length; o += SECTOR) {
    if (o === key.offset) continue;
    aes.decryptBlock(dump, o, head, 0);
    const magic = u32(head, 0);
    if (magic !== MAGIC_DATA && magic !== MAGIC_DATA_NEW) {
      // Inside the store's usual span, a sector that is neither erased nor a block is damage.
      if (o > key.offset && o < storeEnd && !isErased(dump, o, o + SECTOR)) {
        problems.push(`sector at ${hex(o)} inside the store does not decrypt to a block (damaged or foreign)`);
      }
      continue;
    }
    const data = aes.decrypt(dump, o, SECTOR);
    const checksumOk = byteSum(data, 8, SECTOR) === u32(data, 4);
    const id = u16(data, 8);
    if (!checksumOk) problems.push(`block ${id} at ${hex(o)} fails its checksum; only entries that verify are kept`);
    const mapSize = Math.min(data[14], PAGE - 15);
    const indexPages = new Set<number>();
    for (let p = 1; p < SECTOR / PAGE; p++) {
      const byte = p >> 3;
      if (byte < mapSize && data[15 + byte] & (1 << (p & 7))) indexPages.add(p);
    }
    blocks.push({ offset: o, id, generation: u32(data, 10), checksumOk, data, indexPages });
  }
  return blocks;
}

/** One live copy per block id: the highest generation among copies that verify, else the highest. */
function liveBlocks(all: DataBlock[], problems: string[]): Map<number, DataBlock> {
  const byId = new Map<number, DataBlock[]>();
  for (const b of all) byId.set(b.id, [...(byId.get(b.id) ?? []), b]);
  const live = new Map<number, DataBlock>();
  for (const [id, copies] of byId) {
    copies.sort((a, b) => b.generation - a.generation);
    const good = copies.find((c) => c.checksumOk);
    const chosen = good ?? copies[0];
    if (good && good !== copies[0]) {
      problems.push(
        `block ${id}: newest copy (generation ${copies[0].generation}) is damaged; generation ${good.generation} used`,
      );
    }
    live.set(id, chosen);
  }
  return live;
}

interface IndexPage {
  name: string;
  sum: number;
  length: number;
  element: number;
  blockId: number;
  page: number;
  parts: { blockId: number; first: number; last: number }[];
}

function parseIndexPage(block: DataBlock, page: number): IndexPage | string {
  const b = block.data;
  const o = page * PAGE;
  if (u16(b, o + 8) !== block.id || b[o + 10] !== page) return `index page ${block.id}/${page} names another place`;
  const partCount = u16(b, o + 11);
  const nameLen = b[o + 17];
  if (nameLen === 0 || 18 + nameLen + 4 * partCount > PAGE) return `index page ${block.id}/${page} is malformed`;
  let end = o + 18 + nameLen;
  while (end > o + 18 && b[end - 1] === 0) end--;
  let name = "";
  for (let i = o + 18; i < end; i++) {
    if (b[i] < 0x20 || b[i] > 0x7e) return `index page ${block.id}/${page} has a garbled name`;
    name += String.fromCharCode(b[i]);
  }
  if (!name) return `index page ${block.id}/${page} has no name`;
  const parts = [];
  for (let i = 0; i < partCount; i++) {
    const p = o + 18 + nameLen + 4 * i;
    parts.push({ blockId: u16(b, p), first: b[p + 2], last: b[p + 3] });
  }
  return { name, sum: u32(b, o), length: u32(b, o + 4), element: u32(b, o + 13), blockId: block.id, page, parts };
}

function reassemble(idx: IndexPage, blocks: Map<number, DataBlock>): Uint8Array | string {
  const out = new Uint8Array(idx.length);
  let filled = 0;
  for (const part of idx.parts) {
    const block = blocks.get(part.blockId);
    if (!block) return `'${idx.name}' lives partly in block ${part.blockId}, which is missing`;
    if (part.first < 1 || part.last >= SECTOR / PAGE || part.first > part.last) {
      return `'${idx.name}' names pages ${part.first}..${part.last} of block ${part.blockId}`;
    }
    for (let p = part.first; p <= part.last && filled < idx.length; p++) {
      if (block.indexPages.has(p)) return `'${idx.name}' points at index page ${part.blockId}/${p}`;
      const n = Math.min(PAGE, idx.length - filled);
      out.set(block.data.subarray(p * PAGE, p * PAGE + n), filled);
      filled += n;
    }
  }
  if (filled < idx.length) return `'${idx.name}' is ${idx.length} bytes but its pages hold ${filled}`;
  return out;
}

/** Reads the store, or null when the dump holds no key sector. */
export function readTuyaStore(dump: Uint8Array): TuyaStore | null {
  const keys = findKeySectors(dump);
  if (!keys.length) return null;
  let best: { key: KeySector; blocks: DataBlock[]; problems: string[] } | null = null;
  for (const key of keys) {
    const problems: string[] = [];
    const blocks = readDataBlocks(dump, key, problems);
    if (!best || blocks.length > best.blocks.length) best = { key, blocks, problems };
  }
  const { key, problems } = best!;
  const present = Math.floor((dump.length - key.offset) / SECTOR) - 1;
  if (present < STORE_SECTORS_AFTER_KEY) {
    problems.push(
      `the dump ends inside the store: ${present} of the ${STORE_SECTORS_AFTER_KEY} sectors after the key sector are there`,
    );
  }
  const live = liveBlocks(best!.blocks, problems);
  const candidates = new Map<string, { idx: IndexPage; value: Uint8Array | null; ok: boolean; trusted: boolean }[]>();
  for (const block of live.values()) {
    for (const page of block.indexPages) {
      const idx = parseIndexPage(block, page);
      if (typeof idx === "string") {
        problems.push(idx);
        continue;
      }
      const value = reassemble(idx, live);
      const ok = typeof value !== "string" && byteSum(value, 0, value.length) === idx.sum;
      if (typeof value === "string") problems.push(value);
      const list = candidates.get(idx.name) ?? [];
      list.push({ idx, value: typeof value === "string" ? null : value, ok, trusted: block.checksumOk });
      candidates.set(idx.name, list);
    }
  }
  const entries = new Map<string, StoreEntry>();
  for (const [name, list] of candidates) {
    list.sort((a, b) => b.idx.element - a.idx.element);
    const chosen = list.find((c) => c.ok) ?? list[0];
    if (!chosen.ok) problems.push(`'${name}' fails its checksum; its value is not used`);
    else if (chosen !== list[0]) problems.push(`'${name}': newest copy fails its checksum; an older one is used`);
    entries.set(name, {
      name,
      value: chosen.ok && chosen.value ? chosen.value : new Uint8Array(0),
      checksumOk: chosen.ok,
      element: chosen.idx.element,
      blockId: chosen.idx.blockId,
      page: chosen.idx.page,
    });
  }
  return { keyOffset: key.offset, blocks: live.size, entries, problems };
}
