/**
 * The agent's disk spool: every telemetry batch is written here before it is
 * published and deleted only when the server acknowledges it committed to KV.
 * A broker outage, a server crash or an agent restart therefore loses nothing:
 * whatever is still here is re-sent, oldest first, and the server's ledger
 * drops what it already has.
 *
 * Layout: <dir>/<seq, 16 digits>.cbor (one encoded batch each),
 *         <dir>/seq (the last sequence number issued),
 *         <dir>/epoch (random, made with the spool: a fresh spool's batch 0 is not
 *                      an older spool's batch 0 to the server's ledger),
 *         <dir>/rejected/ (batches the server refused, kept for inspection).
 */
import { SPOOL_EPOCH } from "../../shared/telemetry.ts";

export class TelemetrySpool {
  #pending: number[] = [];
  #lastSeq = -1;

  private constructor(readonly dir: string, readonly epoch: string) {}

  static async open(dir: string): Promise<TelemetrySpool> {
    await Deno.mkdir(`${dir}/rejected`, { recursive: true });
    const spool = new TelemetrySpool(dir, await TelemetrySpool.#epoch(dir));
    const seqs: number[] = [];
    for await (const e of Deno.readDir(dir)) {
      const m = /^(\d{16})\.cbor$/.exec(e.name);
      if (e.isFile && m) seqs.push(Number(m[1]));
      // a crash between write and rename leaves a .tmp: the batch was never spooled, so never sent
      else if (e.isFile && e.name.endsWith(".tmp")) await Deno.remove(`${dir}/${e.name}`);
    }
    seqs.sort((a, b) => a - b);
    spool.#pending = seqs;
    const stored = await Deno.readTextFile(`${dir}/seq`).then(Number).catch(() => -1);
    spool.#lastSeq = Math.max(Number.isFinite(stored) ? stored : -1, seqs.at(-1) ?? -1);
    return spool;
  }

  /** The spool's epoch, made once with it (a spool from before epochs gets one too: its old batches keep none). */
  static async #epoch(dir: string): Promise<string> {
    const stored = (await Deno.readTextFile(`${dir}/epoch`).catch(() => "")).trim();
    if (SPOOL_EPOCH.test(stored)) return stored;
    const epoch = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const tmp = `${dir}/epoch.${crypto.randomUUID().slice(0, 8)}.tmp`;
    await Deno.writeTextFile(tmp, epoch);
    await Deno.rename(tmp, `${dir}/epoch`);
    return epoch;
  }

  /** Sequence numbers strictly increase across restarts: the server dedupes on (agent, seq). */
  async nextSeq(): Promise<number> {
    const seq = ++this.#lastSeq;
    await this.#atomicWrite(`${this.dir}/seq`, new TextEncoder().encode(String(seq)));
    return seq;
  }

  async put(seq: number, payload: Uint8Array): Promise<void> {
    await this.#atomicWrite(this.#file(seq), payload);
    this.#pending.push(seq);
    // seqs are issued in order, but keep the invariant if a caller interleaves
    if (this.#pending.length > 1 && this.#pending.at(-2)! > seq) this.#pending.sort((a, b) => a - b);
  }

  read(seq: number): Promise<Uint8Array> {
    return Deno.readFile(this.#file(seq));
  }

  /** Oldest first. */
  pending(): readonly number[] {
    return this.#pending;
  }

  async remove(seq: number): Promise<boolean> {
    const i = this.#pending.indexOf(seq);
    if (i < 0) return false;
    this.#pending.splice(i, 1);
    await Deno.remove(this.#file(seq)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    return true;
  }

  async reject(seq: number): Promise<void> {
    const i = this.#pending.indexOf(seq);
    if (i < 0) return;
    this.#pending.splice(i, 1);
    await Deno.rename(this.#file(seq), `${this.dir}/rejected/${String(seq).padStart(16, "0")}.cbor`);
  }

  #file(seq: number) {
    return `${this.dir}/${String(seq).padStart(16, "0")}.cbor`;
  }

  async #atomicWrite(path: string, data: Uint8Array) {
    const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  }
}
