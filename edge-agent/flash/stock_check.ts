/**
 * The batch's stock-config outlier check, before anything is erased: every port's backup is
 * inspected (shared/tuya-config), the batch waits until every port has backed up (or failed),
 * then the unit whose product key, module, Wi-Fi/MCU firmware or schema differs from the rest
 * is named on the board. In "hold" mode that unit is left untouched (not erased).
 */
import { CodecError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import {
  findOutliers,
  fingerprintOf,
  inspectBackup,
  type Outlier,
  type StockFingerprint,
} from "../../shared/tuya-config/mod.ts";
import { FlashError } from "./errors.ts";

export type StockCheckMode = "report" | "hold";

export interface StockCheckOutcome {
  fingerprints: Record<string, StockFingerprint | null>;
  outliers: Outlier[];
  splits: string[];
}

export class StockBarrier {
  #fps = new Map<string, StockFingerprint | null>();
  #resolve!: (o: StockCheckOutcome) => void;
  readonly outcome: Promise<StockCheckOutcome> = new Promise((r) => (this.#resolve = r));

  constructor(
    readonly ports: string[],
    readonly mode: StockCheckMode,
    readonly log: Logger,
    readonly note: (port: string, text: string) => void,
  ) {}

  #settle() {
    if (this.#fps.size < this.ports.length) return;
    const items = [...this.#fps].flatMap(([id, fp]) => (fp ? [{ id, fp }] : []));
    this.#resolve({ fingerprints: Object.fromEntries(this.#fps), ...findOutliers(items) });
  }

  /** A port's backup is in: wait for the others, then go on, or refuse if this unit is the odd one out. */
  async arrive(port: string, backup: { image: Uint8Array } | undefined): Promise<void> {
    let fp: StockFingerprint | null = null;
    if (backup) {
      try {
        const r = inspectBackup(backup.image);
        if (r.found) fp = fingerprintOf(r);
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        this.log.warn("stock config unreadable", { port, code: e.code, message: e.message });
      }
    }
    if (!this.#fps.has(port)) this.#fps.set(port, fp);
    this.note(port, "backed up; waiting for the batch's stock-config check");
    this.#settle();
    const { outliers } = await this.outcome;
    const mine = outliers.find((o) => o.id === port);
    if (!mine) return;
    const why = mine.differs.join("; ");
    this.log.warn("stock config differs from the batch", { port, differs: mine.differs });
    this.note(port, `OUTLIER: ${why}`.slice(0, 200));
    if (this.mode === "hold") {
      throw new FlashError("REFUSED", `stock config differs from the rest of the batch (${why}): not erased`);
    }
  }

  /** A port that failed before its backup counts as seen, so the others do not wait for it. */
  release(port: string) {
    if (this.#fps.has(port)) return;
    this.#fps.set(port, null);
    this.#settle();
  }
}
