/**
 * The key flash backups are sealed with (AES-256-GCM, server/kv/blobs.ts): the server's
 * one secrets key, also used for unit web passwords (server/auth/sealed.ts) — SECRETS_KEY
 * (base64 of 32 bytes) when set, else DATA_DIR/secrets.key, created 0600 on first start.
 * It never goes into KV, so a copied KV file alone does not give away customers' Wi-Fi
 * passwords. Losing the key loses the backups: back it up apart from the KV file.
 */
import { encodeHex } from "@std/encoding/hex";
import type { BlobKey } from "../kv/blobs.ts";

/** the same file server/auth/sealed.ts reads and creates */
export const SECRETS_KEY_FILE = "secrets.key";

function decodeKey(text: string, where: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = Uint8Array.from(atob(text.trim().replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    throw new Error(`${where}: not base64`);
  }
  if (raw.length !== 32) throw new Error(`${where}: must be 32 bytes (base64), got ${raw.length}`);
  return raw;
}

async function toBlobKey(raw: Uint8Array): Promise<BlobKey> {
  const tag = new TextEncoder().encode("meterfleet backup key id");
  const both = new Uint8Array(tag.length + raw.length);
  both.set(tag);
  both.set(raw, tag.length);
  const id = encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-256", both))).slice(0, 16);
  const key = await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  return { id, key };
}

/** The configured key: SECRETS_KEY, else the key file (created on first use). */
export async function loadBackupKey(opts: { env: string | null; dataDir: string }): Promise<BlobKey> {
  if (opts.env) return await toBlobKey(decodeKey(opts.env, "SECRETS_KEY"));
  const path = `${opts.dataDir}/${SECRETS_KEY_FILE}`;
  try {
    return await toBlobKey(decodeKey(await Deno.readTextFile(path), path));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const raw = crypto.getRandomValues(new Uint8Array(32));
  try {
    // the format server/auth/sealed.ts writes: base64url without padding
    const text = btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    await Deno.writeTextFile(path, text + "\n", { mode: 0o600, createNew: true });
  } catch (e) {
    // another instance sharing DATA_DIR wrote it first: use theirs
    if (e instanceof Deno.errors.AlreadyExists) return await toBlobKey(decodeKey(await Deno.readTextFile(path), path));
    throw e;
  }
  return await toBlobKey(raw);
}
