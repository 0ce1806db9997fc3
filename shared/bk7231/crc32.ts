/**
 * CRC-32/JAMCRC, the value the BK7231 CheckCRC command returns: reflected
 * polynomial 0xEDB88320, init 0xFFFFFFFF, no final XOR (= ~zlib crc32).
 * Chainable: crc32Jam(b, crc32Jam(a)) === crc32Jam(a ++ b).
 * Reference: ../shared/reference/bk7231-bootloader.md §2.5 (HID crc32_ver2, GUI Utils/CRC.cs).
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32Jam(data: Uint8Array, state = 0xffffffff): number {
  let c = state >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** The standard (zlib) CRC-32, for comparing with published constants. */
export const crc32Zlib = (data: Uint8Array) => (crc32Jam(data) ^ 0xffffffff) >>> 0;

/** JAMCRC of `len` bytes of 0xFF (an erased range) without allocating it. */
export function crc32JamOfFF(len: number, state = 0xffffffff): number {
  const ff = new Uint8Array(Math.min(len, 65536)).fill(0xff);
  let c = state;
  for (let left = len; left > 0; left -= ff.length) c = crc32Jam(left >= ff.length ? ff : ff.subarray(0, left), c);
  return c >>> 0;
}
