/**
 * The agent's side of the flash API on the server (server/api/flash.ts):
 * content-addressed backup upload (asks first, so a known backup is never sent
 * or stored twice), unit registration, firmware download, live batch progress.
 */
import type { BatchServer } from "./batch.ts";
import type { PortProgress } from "./progress.ts";
import type { BackupMeta, UnitRecord } from "./unit.ts";
import { sha256Hex } from "./jobs.ts";

export class HttpFlashServer implements BatchServer {
  constructor(readonly base: string, readonly token?: string) {}

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async #check(res: Response, what: string) {
    if (!res.ok) {
      const body = await res.text().catch(() => "");
      throw new Error(`${what}: HTTP ${res.status} ${body.slice(0, 200)}`);
    }
  }

  async uploadBackup(meta: BackupMeta, image: Uint8Array): Promise<string> {
    if (await sha256Hex(image) !== meta.sha256) throw new Error("backup bytes do not match their sha256");
    const q = new URLSearchParams(Object.entries(meta).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
    const res = await fetch(`${this.base}/api/flash/backups/${meta.sha256}?${q}`, {
      method: "PUT",
      headers: this.#headers({ "content-type": "application/octet-stream" }),
      body: image as Uint8Array<ArrayBuffer>,
    });
    await this.#check(res, "backup upload");
    const body = await res.json() as { id: string };
    return body.id;
  }

  async registerUnit(record: UnitRecord): Promise<void> {
    const res = await fetch(`${this.base}/api/flash/units`, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify(record),
    });
    await this.#check(res, "unit registration");
    await res.body?.cancel();
  }

  async reportProgress(batchId: string, rows: PortProgress[]): Promise<void> {
    const res = await fetch(`${this.base}/api/flash/batches/${encodeURIComponent(batchId)}/progress`, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify({ rows }),
    });
    await this.#check(res, "progress");
    await res.body?.cancel();
  }

  /** A firmware image or backup by sha256, verified. */
  async fetchBlob(kind: "firmware" | "backups", sha256: string): Promise<Uint8Array> {
    const res = await fetch(`${this.base}/api/flash/${kind}/${sha256}`, { headers: this.#headers() });
    await this.#check(res, `download ${kind}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (await sha256Hex(bytes) !== sha256) throw new Error(`downloaded ${kind} ${sha256.slice(0, 12)} does not match its hash`);
    return bytes;
  }
}
