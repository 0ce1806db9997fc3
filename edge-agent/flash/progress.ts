/**
 * Terminal progress for one or many ports: a bar per port with phase, bytes,
 * rate and ETA. On a terminal the block of lines is redrawn in place; into a
 * pipe or file it prints a line per phase change and every 10 %.
 */
import type { Progress } from "./flasher.ts";
import type { PortProgress } from "../../shared/flash-progress.ts";
export type { PortProgress };

interface Row extends PortProgress {
  samples: { t: number; done: number }[];
  lastPrinted: string;
}

export class ProgressBoard {
  #rows = new Map<string, Row>();
  #drawn = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly tty: boolean;
  /** Listeners get every update (the batch forwards them to the server's live page). */
  readonly listeners: ((p: PortProgress) => void)[] = [];

  constructor(
    readonly out: { writeSync(b: Uint8Array): number; isTerminal(): boolean } = Deno.stderr,
    readonly now: () => number = () => performance.now(),
  ) {
    this.tty = out.isTerminal();
  }

  update(port: string, p: Progress | { phase: string; done: number; total: number }, note?: string) {
    let row = this.#rows.get(port);
    if (!row) {
      row = { port, phase: "", done: 0, total: 0, rate: 0, etaS: null, samples: [], lastPrinted: "" };
      this.#rows.set(port, row);
    }
    const t = this.now();
    if (p.done < row.done) row.samples = [];
    row.phase = p.phase;
    row.done = p.done;
    row.total = p.total;
    if (note !== undefined) row.note = note;
    row.samples.push({ t, done: p.done });
    while (row.samples.length > 2 && t - row.samples[0].t > 3000) row.samples.shift();
    const first = row.samples[0];
    row.rate = t > first.t ? ((p.done - first.done) * 1000) / (t - first.t) : 0;
    row.etaS = row.rate > 0 ? (p.total - p.done) / row.rate : null;
    for (const l of this.listeners) l(snapshot(row));
    if (this.tty) this.#schedule();
    else this.#printLine(row);
  }

  rows(): PortProgress[] {
    return [...this.#rows.values()].map(snapshot);
  }

  #schedule() {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.draw();
    }, 100);
  }

  /** Redraw all bars in place (TTY). */
  draw() {
    const lines = [...this.#rows.values()].map(formatRow);
    let s = this.#drawn ? `\x1b[${this.#drawn}A` : "";
    for (const l of lines) s += `\r\x1b[2K${l}\n`;
    this.#drawn = lines.length;
    this.out.writeSync(new TextEncoder().encode(s));
  }

  #printLine(row: Row) {
    const pct = row.total ? Math.floor((row.done / row.total) * 10) : 0;
    const key = `${row.phase}:${pct}:${row.note ?? ""}`;
    if (key === row.lastPrinted) return;
    row.lastPrinted = key;
    this.out.writeSync(new TextEncoder().encode(formatRow(row) + "\n"));
  }

  /** Final redraw; stops the timer. */
  finish() {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.tty) this.draw();
  }
}

function snapshot(r: Row): PortProgress {
  return { port: r.port, phase: r.phase, done: r.done, total: r.total, rate: r.rate, etaS: r.etaS, note: r.note };
}

export function formatRow(r: PortProgress): string {
  const width = 24;
  const frac = r.total ? Math.min(1, r.done / r.total) : 0;
  const fill = Math.round(frac * width);
  const bar = "█".repeat(fill) + "░".repeat(width - fill);
  const kb = (n: number) => `${(n / 1024).toFixed(0)}K`;
  const rate = r.rate ? `${(r.rate / 1024).toFixed(1)} KiB/s` : "";
  const eta = r.etaS !== null && r.done < r.total ? `ETA ${fmtTime(r.etaS)}` : "";
  // link/done/failed rows count steps, not bytes
  const bytes = r.total >= 4096 ? `${kb(r.done)}/${kb(r.total)} ${rate} ${eta}` : "";
  return `${r.port.padEnd(14)} ${r.phase.padEnd(7)} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${bytes}${
    r.note ? "  " + r.note : ""
  }`
    .replace(/ +$/, "");
}

function fmtTime(s: number) {
  const m = Math.floor(s / 60);
  return m ? `${m}m${Math.round(s % 60).toString().padStart(2, "0")}s` : `${s.toFixed(0)}s`;
}
