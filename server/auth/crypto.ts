/**
 * Secrets: random tokens, password hashing (argon2id from @noble/hashes, pure JS,
 * so it runs under Deno without native addons), lookup hashes for high-entropy
 * tokens, and Mosquitto's PBKDF2-SHA512 password-file format.
 */
import { argon2idAsync } from "@noble/hashes/argon2.js";

const enc = new TextEncoder();

export function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A random URL-safe secret with `bytes` bytes of entropy. */
export function randomSecret(bytes = 32): string {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** SHA-256 hex: the lookup key of a high-entropy token (never of a password). */
export async function sha256Hex(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(s)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function timingSafeEqual(a: string, b: string): boolean {
  const x = enc.encode(a), y = enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane). */
const ARGON = { m: 19456, t: 2, p: 1, dkLen: 32 };
export const MAX_PASSWORD_LENGTH = 256;

/** PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> */
export async function hashPassword(password: string): Promise<string> {
  if (password.length > MAX_PASSWORD_LENGTH) throw new Error("password too long");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const h = await argon2idAsync(enc.encode(password), salt, ARGON);
  return `$argon2id$v=19$m=${ARGON.m},t=${ARGON.t},p=${ARGON.p}$${b64(salt).replace(/=+$/, "")}$${
    b64(h).replace(/=+$/, "")
  }`;
}

export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc);
  if (!m || password.length > MAX_PASSWORD_LENGTH) return false;
  const [mem, t, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mem > 262144 || t > 10 || p > 4) return false;
  const expect = unb64(m[5]);
  const got = await argon2idAsync(enc.encode(password), unb64(m[4]), { m: mem, t, p, dkLen: expect.length });
  return timingSafeEqual(b64(got), b64(expect));
}

/** A hash in Mosquitto 2's password_file format (PBKDF2-SHA512, what mosquitto_passwd writes). */
export async function mosquittoHash(password: string, iterations = 101): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(12));
  const key = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-512", salt, iterations }, key, 512),
  );
  return `$7$${iterations}$${b64(salt)}$${b64(bits)}`;
}
