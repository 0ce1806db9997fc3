/**
 * The simulated SPI flash: 2 MiB (or any power of two), address wrap-around,
 * erase-before-write NOR semantics (program can only clear bits), a status
 * register with block-protect bits, and a bitwise CRC-32/JAMCRC that shares
 * nothing with the client's table-driven one.
 */

export class SimFlash {
  readonly data: Uint8Array;
  /** Status register (SR1 | SR2<<8); protect bits block erase/program silently. */
  sr: number;
  constructor(
    readonly size: number,
    readonly mid: number,
    readonly srSize: 1 | 2,
    initialSr: number,
    image?: Uint8Array,
  ) {
    this.data = new Uint8Array(size).fill(0xff);
    if (image) this.data.set(image.subarray(0, size));
    this.sr = initialSr;
  }

  wrap(addr: number) {
    return addr & (this.size - 1);
  }
  /** BP0..BP4 (bits 2..6) or CMP (bit 14) set → the part refuses erase/program. */
  get protected() {
    return (this.sr & 0x407c) !== 0;
  }

  read(addr: number, len: number): Uint8Array {
    const a = this.wrap(addr);
    if (a + len <= this.size) return this.data.slice(a, a + len);
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) out[i] = this.data[this.wrap(addr + i)];
    return out;
  }
  erase(addr: number, len: number): boolean {
    if (this.protected) return false;
    const base = this.wrap(addr) & ~(len - 1);
    this.data.fill(0xff, base, base + len);
    return true;
  }
  /** NOR program: bits only go 1 → 0. */
  program(addr: number, bytes: Uint8Array): boolean {
    if (this.protected) return false;
    for (let i = 0; i < bytes.length; i++) {
      const a = this.wrap(addr + i);
      this.data[a] &= bytes[i];
    }
    return true;
  }
  crc(start: number, endExclusive: number): number {
    let c = 0xffffffff;
    for (let a = start; a < endExclusive; a++) {
      c ^= this.data[this.wrap(a)];
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return c >>> 0;
  }
}

/**
 * Make flash[start, end) have the given JAMCRC by rewriting its last 4 bytes
 * (CRC is linear, so 4 free bytes reach any value). Used to give a generated
 * image the real bootloader fingerprint of §3.5.
 */
export function forgeCrc(flash: SimFlash, start: number, end: number, target: number) {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  const top = new Map<number, number>();
  for (let i = 0; i < 256; i++) top.set(table[i] >>> 24, i);
  // state before the last 4 bytes
  const s = flash.crc(start, end - 4);
  // run 4 zero-input steps backwards from the target: F(x) = target
  let c = target >>> 0;
  for (let k = 0; k < 4; k++) {
    const i = top.get(c >>> 24)!;
    c = ((((c ^ table[i]) >>> 0) << 8) | i) >>> 0;
  }
  const x = (c ^ s) >>> 0;
  for (let k = 0; k < 4; k++) flash.data[flash.wrap(end - 4 + k)] = (x >>> (8 * k)) & 0xff;
}
