/**
 * AES-128 decryption, ECB, one 16-byte block at a time (FIPS-197 inverse cipher
 * with the usual "T-table" merge of InvSubBytes/InvShiftRows/InvMixColumns).
 * Tuya's key-value store is AES-128-ECB; WebCrypto has no ECB and shared/ stays
 * synchronous and dependency-free, so the small decryptor lives here. The tables
 * are computed from GF(2^8) arithmetic at load time rather than written out.
 */

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
// Td0..Td3: InvSubBytes + InvMixColumns for one state byte, rotated per row.
const TD0 = new Uint32Array(256);
const TD1 = new Uint32Array(256);
const TD2 = new Uint32Array(256);
const TD3 = new Uint32Array(256);

function xtime(a: number): number {
  return ((a << 1) ^ ((a & 0x80) ? 0x1b : 0)) & 0xff;
}

function gmul(a: number, b: number): number {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a = xtime(a);
    b >>= 1;
  }
  return r;
}

(function buildTables() {
  // Multiplicative inverse via exp/log tables over generator 3.
  const exp = new Uint8Array(256);
  const log = new Uint8Array(256);
  let x = 1;
  for (let i = 0; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x = gmul(x, 3);
  }
  for (let a = 0; a < 256; a++) {
    const inv = a === 0 ? 0 : exp[(255 - log[a]) % 255];
    // Affine transform: b ^ rotl(b,1) ^ rotl(b,2) ^ rotl(b,3) ^ rotl(b,4) ^ 0x63.
    let s = inv;
    for (let r = 1; r <= 4; r++) s ^= ((inv << r) | (inv >> (8 - r))) & 0xff;
    s ^= 0x63;
    SBOX[a] = s;
    INV_SBOX[s] = a;
  }
  for (let a = 0; a < 256; a++) {
    const s = INV_SBOX[a];
    // Column (0e, 09, 0d, 0b) · s, packed big-endian: row 0 in the top byte.
    const w = ((gmul(s, 0x0e) << 24) | (gmul(s, 0x09) << 16) | (gmul(s, 0x0d) << 8) | gmul(s, 0x0b)) >>> 0;
    TD0[a] = w;
    TD1[a] = ((w >>> 8) | (w << 24)) >>> 0;
    TD2[a] = ((w >>> 16) | (w << 16)) >>> 0;
    TD3[a] = ((w >>> 24) | (w << 8)) >>> 0;
  }
})();

function invMixWord(w: number): number {
  // InvMixColumns of a round-key word (equivalent inverse cipher).
  return (TD0[SBOX[w >>> 24]] ^ TD1[SBOX[(w >>> 16) & 0xff]] ^ TD2[SBOX[(w >>> 8) & 0xff]] ^
    TD3[SBOX[w & 0xff]]) >>> 0;
}

/** An expanded AES-128 key ready for block decryption. */
export class Aes128Decryptor {
  readonly #rk: Uint32Array; // 44 decryption round-key words, round 10 first

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`AES-128 needs a 16-byte key, got ${key.length}`);
    const w = new Uint32Array(44);
    for (let i = 0; i < 4; i++) {
      w[i] = ((key[4 * i] << 24) | (key[4 * i + 1] << 16) | (key[4 * i + 2] << 8) | key[4 * i + 3]) >>> 0;
    }
    let rcon = 1;
    for (let i = 4; i < 44; i++) {
      let t = w[i - 1];
      if (i % 4 === 0) {
        t = ((SBOX[(t >>> 16) & 0xff] << 24) | (SBOX[(t >>> 8) & 0xff] << 16) | (SBOX[t & 0xff] << 8) |
          SBOX[t >>> 24]) ^ (rcon << 24);
        rcon = xtime(rcon);
      }
      w[i] = (w[i - 4] ^ t) >>> 0;
    }
    const rk = new Uint32Array(44);
    for (let round = 0; round <= 10; round++) {
      for (let c = 0; c < 4; c++) {
        const word = w[(10 - round) * 4 + c];
        rk[round * 4 + c] = round === 0 || round === 10 ? word : invMixWord(word);
      }
    }
    this.#rk = rk;
  }

  /** Decrypts 16 bytes of `src` at `from` into `dst` at `to` (may be the same buffer). */
  decryptBlock(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
    const rk = this.#rk;
    let s0 = ((src[from] << 24) | (src[from + 1] << 16) | (src[from + 2] << 8) | src[from + 3]) ^ rk[0];
    let s1 = ((src[from + 4] << 24) | (src[from + 5] << 16) | (src[from + 6] << 8) | src[from + 7]) ^ rk[1];
    let s2 = ((src[from + 8] << 24) | (src[from + 9] << 16) | (src[from + 10] << 8) | src[from + 11]) ^ rk[2];
    let s3 = ((src[from + 12] << 24) | (src[from + 13] << 16) | (src[from + 14] << 8) | src[from + 15]) ^ rk[3];
    let k = 4;
    for (let round = 1; round < 10; round++) {
      const t0 = TD0[s0 >>> 24] ^ TD1[(s3 >>> 16) & 0xff] ^ TD2[(s2 >>> 8) & 0xff] ^ TD3[s1 & 0xff] ^ rk[k];
      const t1 = TD0[s1 >>> 24] ^ TD1[(s0 >>> 16) & 0xff] ^ TD2[(s3 >>> 8) & 0xff] ^ TD3[s2 & 0xff] ^ rk[k + 1];
      const t2 = TD0[s2 >>> 24] ^ TD1[(s1 >>> 16) & 0xff] ^ TD2[(s0 >>> 8) & 0xff] ^ TD3[s3 & 0xff] ^ rk[k + 2];
      const t3 = TD0[s3 >>> 24] ^ TD1[(s2 >>> 16) & 0xff] ^ TD2[(s1 >>> 8) & 0xff] ^ TD3[s0 & 0xff] ^ rk[k + 3];
      s0 = t0;
      s1 = t1;
      s2 = t2;
      s3 = t3;
      k += 4;
    }
    const out = [
      (INV_SBOX[s0 >>> 24] << 24) | (INV_SBOX[(s3 >>> 16) & 0xff] << 16) | (INV_SBOX[(s2 >>> 8) & 0xff] << 8) |
      INV_SBOX[s1 & 0xff],
      (INV_SBOX[s1 >>> 24] << 24) | (INV_SBOX[(s0 >>> 16) & 0xff] << 16) | (INV_SBOX[(s3 >>> 8) & 0xff] << 8) |
      INV_SBOX[s2 & 0xff],
      (INV_SBOX[s2 >>> 24] << 24) | (INV_SBOX[(s1 >>> 16) & 0xff] << 16) | (INV_SBOX[(s0 >>> 8) & 0xff] << 8) |
      INV_SBOX[s3 & 0xff],
      (INV_SBOX[s3 >>> 24] << 24) | (INV_SBOX[(s2 >>> 16) & 0xff] << 16) | (INV_SBOX[(s1 >>> 8) & 0xff] << 8) |
      INV_SBOX[s0 & 0xff],
    ];
    for (let c = 0; c < 4; c++) {
      const v = out[c] ^ rk[40 + c];
      dst[to + 4 * c] = v >>> 24;
      dst[to + 4 * c + 1] = (v >>> 16) & 0xff;
      dst[to + 4 * c + 2] = (v >>> 8) & 0xff;
      dst[to + 4 * c + 3] = v & 0xff;
    }
  }

  /** Decrypts `length` bytes (a multiple of 16) of `src` from `from` into a new array. */
  decrypt(src: Uint8Array, from: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let o = 0; o < length; o += 16) this.decryptBlock(src, from + o, out, o);
    return out;
  }
}
