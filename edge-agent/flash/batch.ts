/**
 * One agent, several adapters: run flashUnit on every port concurrently, each
 * with its own progress bar, and forward progress to the server's live batch
 * page when a server is configured. A failure on one port never stops the others.
 */
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { FlasherOptions } from "./flasher.ts";
import type { PortProgress, ProgressBoard } from "./progress.ts";
import { type FlashServer, flashUnit, type UnitResult } from "./unit.ts";
import type { ConfigSectorFor } from "./provision.ts";
import { StockBarrier, type StockCheckMode, type StockCheckOutcome } from "./stock_check.ts";

export interface BatchServer extends FlashServer {
  reportProgress?(batchId: string, rows: PortProgress[]): Promise<void>;
}

export interface BatchOptions {
  ports: string[];
  image?: { name: string; data: Uint8Array };
  backupDir: string;
  stateDir: string;
  server?: BatchServer;
  provision?: ConfigSectorFor;
  flasher: FlasherOptions;
  clock: Clock;
  log: Logger;
  board: ProgressBoard;
  batchId?: string;
  benchHost?: string;
  /** a restore: write `image` (a stored backup) without backing up first, reported as a restore of it */
  restore?: { backupSha256: string };
  /** Compare the units' stock configs before erasing: "report" names the outlier, "hold" also leaves it untouched. */
  stockCheck?: StockCheckMode;
  onStockCheck?: (o: StockCheckOutcome) => void;
}

export type BatchResult = { port: string; ok: true; result: UnitResult } | { port: string; ok: false; error: unknown };

export async function runBatch(o: BatchOptions): Promise<BatchResult[]> {
  const dup = o.ports.find((p, i) => o.ports.indexOf(p) !== i);
  if (dup) throw new Error(`port ${dup} is listed twice: two jobs cannot share one adapter`);
  const batchId = o.batchId ?? `b-${new Date(o.clock.now()).toISOString().replace(/[-:]/g, "").slice(0, 15)}`;
  const benchHost = o.benchHost ?? Deno.hostname();
  const stopReporting = reportLoop(o, batchId);
  // two ports presenting one MAC are two units that cannot both be that unit: the second is refused
  const macs = new Map<string, string>();
  const claimMac = (mac: string, port: string) => {
    const holder = macs.get(mac);
    if (holder && holder !== port) return holder;
    macs.set(mac, port);
    return null;
  };
  const barrier = o.stockCheck
    ? new StockBarrier(o.ports, o.stockCheck, o.log.child({ batchId }), (port, note) => {
      o.board.update(port, { phase: "check", done: 1, total: 1 }, note);
    })
    : undefined;
  if (barrier && o.onStockCheck) barrier.outcome.then(o.onStockCheck);
  try {
    const settled = await Promise.allSettled(o.ports.map((port) =>
      flashUnit({
        port,
        backupDir: o.backupDir,
        stateDir: o.stateDir,
        image: o.image,
        configSector: o.provision,
        server: o.server,
        batchId,
        claimMac,
        ...(o.restore ? { skipBackup: true, kind: "restore" as const, restoredBackup: o.restore.backupSha256 } : {}),
        benchHost,
        flasher: o.flasher,
        clock: o.clock,
        log: o.log.child({ port, batchId }),
        onProgress: (p, note) => o.board.update(port, p, note),
        beforeErase: barrier ? (b) => barrier.arrive(port, b) : undefined,
      }).catch((e) => {
        barrier?.release(port);
        o.board.update(port, { phase: "failed", done: 0, total: 1 }, (e as Error).message.slice(0, 80));
        throw e;
      })
    ));
    return settled.map((s, i) =>
      s.status === "fulfilled"
        ? { port: o.ports[i], ok: true, result: s.value }
        : { port: o.ports[i], ok: false, error: s.reason }
    );
  } finally {
    await stopReporting();
  }
}

/** Push the board to the server about once a second (and once at the end). */
function reportLoop(o: BatchOptions, batchId: string): () => Promise<void> {
  const send = o.server?.reportProgress?.bind(o.server);
  if (!send) return () => Promise.resolve();
  let dirty = false;
  const listener = () => (dirty = true);
  o.board.listeners.push(listener);
  let inflight: Promise<void> = Promise.resolve();
  const push = () => {
    inflight = send(batchId, o.board.rows()).catch((e) => o.log.warn("progress upload failed", { error: e }));
    return inflight;
  };
  const timer = setInterval(() => {
    if (!dirty) return;
    dirty = false;
    push();
  }, 1000);
  return async () => {
    clearInterval(timer);
    o.board.listeners.splice(o.board.listeners.indexOf(listener), 1);
    await inflight;
    await push();
  };
}
