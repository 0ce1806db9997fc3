/**
 * The on-disk record of a flash job in progress, so an interrupted backup or
 * write (power loss, unplugged adapter, Ctrl-C) resumes where it stopped.
 * Saved atomically (write temp file, rename) after every verified chunk.
 * Done chunks carry the CRC the chip confirmed; on resume each is checked
 * against the chip again, so a different unit on the bench is never mistaken
 * for the one we started with.
 */
import { FlashError } from "./errors.ts";

export interface JournalData {
  v: 1;
  kind: "backup" | "write";
  /** What the job is about: output path for backups, image sha256 + address for writes. */
  target: string;
  start: number;
  length: number;
  chip?: string;
  /** offset (decimal string) → JAMCRC of the chunk as verified by the chip. */
  done: Record<string, number>;
  startedAt: string;
  updatedAt: string;
}

export class Journal {
  private constructor(readonly path: string, public data: JournalData) {}

  static async open(
    path: string,
    fresh: Omit<JournalData, "v" | "done" | "startedAt" | "updatedAt">,
  ): Promise<Journal> {
    try {
      const data = JSON.parse(await Deno.readTextFile(path)) as JournalData;
      if (
        data.v === 1 && data.kind === fresh.kind && data.target === fresh.target && data.start === fresh.start &&
        data.length === fresh.length && typeof data.done === "object"
      ) {
        return new Journal(path, data);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        if (e instanceof SyntaxError) {
          // a torn journal is not trusted: start over (chunks get re-verified anyway)
        } else throw new FlashError("BAD_JOURNAL", `cannot read job journal ${path}: ${(e as Error).message}`);
      }
    }
    const now = new Date().toISOString();
    return new Journal(path, { v: 1, ...fresh, done: {}, startedAt: now, updatedAt: now });
  }

  get resumed() {
    return Object.keys(this.data.done).length > 0;
  }

  doneCrc(offset: number): number | undefined {
    return this.data.done[String(offset)];
  }

  async markDone(offset: number, crc: number) {
    this.data.done[String(offset)] = crc;
    await this.save();
  }

  async forget(offset: number) {
    delete this.data.done[String(offset)];
    await this.save();
  }

  async save() {
    this.data.updatedAt = new Date().toISOString();
    const tmp = `${this.path}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(this.data));
    await Deno.rename(tmp, this.path);
  }

  async remove() {
    await Deno.remove(this.path).catch(() => {});
  }
}
