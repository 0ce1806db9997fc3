/**
 * Files that hold secrets: the KV file (fleet unit secret, the server's own MQTT
 * password, password hashes), the secrets key (backups, unit web passwords), the one-time
 * admin password. They are
 * created 0600 in a 0700 DATA_DIR; at every start, looser modes are tightened and
 * the repair is reported (a copy made meanwhile may have leaked).
 */
import { dirname } from "node:path";

type Warn = (msg: string, fields: Record<string, unknown>) => void;

async function modeOf(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mode! & 0o777;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Create `dir` (and missing parents) 0700, or tighten it if group/others may read it. */
export async function ensurePrivateDir(dir: string, warn: Warn): Promise<void> {
  if (await modeOf(dir) === null) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const mode = await modeOf(dir);
  if (mode !== null && (mode & 0o077) !== 0) {
    await Deno.chmod(dir, 0o700);
    warn("directory holding secrets was open to other users; set to 0700", { dir, was: mode.toString(8) });
  }
}

/** Tighten an existing secret file to 0600 (absent files are left alone). */
export async function ensurePrivateFile(path: string, warn: Warn): Promise<void> {
  const mode = await modeOf(path);
  if (mode !== null && (mode & 0o077) !== 0) {
    await Deno.chmod(path, 0o600);
    warn("file holding secrets was readable by other users; set to 0600", { file: path, was: mode.toString(8) });
  }
}

/**
 * Before SQLite opens a new KV file: create it empty with 0600 (SQLite takes an empty
 * file as a new database and gives its -wal/-shm files the database file's mode).
 */
export async function prepareKvFile(path: string, warn: Warn): Promise<void> {
  await ensurePrivateDir(dirname(path), warn);
  try {
    await Deno.writeFile(path, new Uint8Array(), { createNew: true, mode: 0o600 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  for (const f of [path, `${path}-wal`, `${path}-shm`]) await ensurePrivateFile(f, warn);
}
