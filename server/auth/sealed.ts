/**
 * Secrets the server must be able to read back (a unit's OpenBeken web password, which HTTP OTA sends as Basic
 * auth) are kept in KV sealed with AES-256-GCM under a key that is NOT in the KV file: $SECRETS_KEY (base64 of
 * 32 bytes), else DATA_DIR/secrets.key, created 0600 on first use. A copied KV file or KV backup alone reveals
 * nothing. Each sealed value is bound to what it belongs to (the additional data, e.g. "unit-web:<unitId>"), so a
 * ciphertext moved to another record does not open.
 */
import { b64url } from "./crypto.ts";

const enc = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function unb64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function readOrCreateKeyFile(path: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return unb64url((await Deno.readTextFile(path)).trim());
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const raw = crypto.getRandomValues(new Uint8Array(32));
  try {
    // createNew: two servers starting at once must not each write their own key
    await Deno.writeTextFile(path, b64url(raw) + "\n", { createNew: true, mode: 0o600 });
    return raw;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return unb64url((await Deno.readTextFile(path)).trim());
    throw e;
  }
}

/** The sealing key: $SECRETS_KEY, else `<dataDir>/secrets.key` (created 0600 when missing). */
export function sealingKey(o: { dataDir: string; env?: string | null }): Promise<CryptoKey> {
  const id = o.env ? `env:${o.env}` : `file:${o.dataDir}`;
  let k = keys.get(id);
  if (!k) {
    k = (async () => {
      const raw = o.env ? unb64url(o.env) : await readOrCreateKeyFile(`${o.dataDir}/secrets.key`);
      if (raw.length !== 32) throw new Error("SECRETS_KEY / secrets.key must hold 32 bytes (base64)");
      return await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    })();
    k.catch(() => keys.delete(id));
    keys.set(id, k);
  }
  return k;
}

/** "v1.<iv>.<ciphertext+tag>" (base64url) */
export async function seal(key: CryptoKey, plaintext: string, boundTo: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: enc.encode(boundTo) },
      key,
      enc.encode(plaintext),
    ),
  );
  return `v1.${b64url(iv)}.${b64url(ct)}`;
}

export class UnsealError extends Error {
  override name = "UnsealError";
}

export async function unseal(key: CryptoKey, sealed: string, boundTo: string): Promise<string> {
  const [v, iv, ct] = sealed.split(".");
  if (v !== "v1" || !iv || !ct) throw new UnsealError("not a sealed value");
  try {
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: unb64url(iv), additionalData: enc.encode(boundTo) },
      key,
      unb64url(ct),
    );
    return new TextDecoder().decode(pt);
  } catch {
    throw new UnsealError("the sealed value does not open with this key (another secrets.key, or moved)");
  }
}
