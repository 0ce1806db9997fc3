/**
 * The agent's side of the flash API on the server (server/flash/api.ts):
 * content-addressed backup upload (asks first, so a known backup is never sent
 * or stored twice), unit registration, firmware download, live batch progress.
 */
import type { BatchServer } from "./batch.ts";
import type { PortProgress } from "./progress.ts";
import type { BackupMeta, UnitRecord } from "./unit.ts";
import { sha256Hex } from "./jobs.ts";

/** Matches server/flash/api.ts UPLOAD_PART_BYTES: each part fits the server's default body cap. */
const PART = 60_000;

export class HttpFlashServer implements BatchServer {
  readonly root: string;
  constructor(base: string, readonly agentId: string, readonly token?: string) {
    this.root = `${base.replace(/\/$/, "")}/api/agents/${encodeURIComponent(agentId)}/flash`;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async #check(res: Response, what: string) {
    if (!res.ok) {
      const body = await res.text().catch(() => "");
      throw new Error(`${what}: HTTP ${res.status} ${body.slice(0, 200)}`);
    }
  }

  /**
   * Content-addressed, resumable: ask what the server has, send only missing
   * parts, then commit (the server checks the sha256 before storing anything).
   */
  async uploadBackup(meta: BackupMeta, image: Uint8Array, uploadId: string): Promise<string> {
    if (await sha256Hex(image) !== meta.sha256) throw new Error("backup bytes do not match their sha256");
    const upload = encodeURIComponent(uploadId);
    const head = await fetch(`${this.root}/backups/${meta.sha256}?upload=${upload}`, { headers: this.#headers() });
    const state = await head.json().catch(() => ({})) as { exists?: boolean; parts?: number[] };
    const parts = Math.ceil(image.length / PART);
    if (!state.exists) {
      const have = new Set(state.parts ?? []);
      for (let i = 0; i < parts; i++) {
        if (have.has(i)) continue;
        const res = await fetch(`${this.root}/backups/${meta.sha256}/parts/${i}?upload=${upload}`, {
          method: "PUT",
          headers: this.#headers({ "content-type": "application/octet-stream" }),
          body: image.slice(i * PART, (i + 1) * PART),
        });
        await this.#check(res, `backup part ${i}`);
        await res.body?.cancel();
      }
    }
    const res = await fetch(`${this.root}/backups/${meta.sha256}/commit`, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify({ ...meta, upload: uploadId, parts, size: image.length }),
    });
    await this.#check(res, "backup commit");
    return ((await res.json()) as { id: string }).id;
  }

  /** Report a job on a unit (batch, write, restore, backup) to inventory. */
  async registerUnit(record: UnitRecord): Promise<void> {
    const res = await fetch(`${this.root}/units`, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify(record),
    });
    await this.#check(res, "unit registration");
    await res.body?.cancel();
  }

  async reportProgress(batchId: string, rows: PortProgress[]): Promise<void> {
    const res = await fetch(`${this.root}/batches/${encodeURIComponent(batchId)}/progress`, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify({ rows }),
    });
    await this.#check(res, "progress");
    await res.body?.cancel();
  }

  /**
   * MQTT credentials for a unit's topic, derived on the server from the fleet secret; only for a
   * unit (MAC) this bench backed up.
   */
  async unitCredentials(topic: string, mac: string): Promise<{ user: string; password: string }> {
    const res = await fetch(`${this.root}/credentials`, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify({ topic, mac }),
    });
    await this.#check(res, "unit credentials");
    return await res.json() as { user: string; password: string };
  }

  /** A bench calibration record for a unit (server/calibration/api.ts agent route; the actor is this agent). */
  async postCalibration(unitId: string, body: Record<string, unknown>): Promise<void> {
    const url = `${this.root.replace(/\/flash$/, "")}/calibrations/${encodeURIComponent(unitId)}`;
    const res = await fetch(url, {
      method: "POST",
      headers: this.#headers({ "content-type": "application/json" }),
      body: JSON.stringify(body),
    });
    await this.#check(res, "calibration record");
    await res.body?.cancel();
  }

  /** A firmware image or a stored backup by sha256, checked against its hash. */
  async fetchBlob(kind: "firmware" | "backup", sha256: string): Promise<Uint8Array> {
    const url = kind === "firmware" ? `${this.root}/firmware/${sha256}` : `${this.root}/backups/${sha256}/bytes`;
    const res = await fetch(url, { headers: this.#headers() });
    await this.#check(res, `download ${kind}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (await sha256Hex(bytes) !== sha256) {
      throw new Error(`downloaded ${kind} ${sha256.slice(0, 12)} does not match its hash`);
    }
    return bytes;
  }
}
