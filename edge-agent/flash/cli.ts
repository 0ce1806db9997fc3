/**
 * `deno task agent flash <backup|write|batch|restore> ...`
 *
 *   flash backup  --port <path> --out <file> [--baud N] [--chip auto|bk7231n|bk7231t]
 *                 [--start 0x1d0000 --length 0x2000]   (a ranged read; default the whole flash)
 *   flash write   --port <path> --image <file> [--chip auto|bk7231n|bk7231t] [--baud N] [--addr 0x11000]
 *                 [--include-bootloader]   (BK7231N only)
 *   flash batch   --port <p1> --port <p2> ... [--image <file>] [--backup-dir data/backups]
 *                 [--stock-check report|hold]   (compare the units' stock configs before erasing)
 *   flash restore --port <path> --backup <file>
 *
 * Common: --baud (transfer rate after linking at 115200; default 921600, falls
 * back to lower rates), --link-timeout <s> (default 20), --state-dir
 * (journals of interrupted jobs; default data/flash-jobs), --server <url> and
 * --token (upload backups, register units, live batch page), --provision
 * <json file> (OpenBeken config sector: wifi, mqtt, device template).
 * Rerunning a command after an interruption resumes the job.
 */
import { parseArgs } from "@std/cli/parse-args";
import type { ChipKind } from "../../shared/bk7231/mod.ts";
import { systemClock } from "../../shared/clock.ts";
import { createLogger, type LogLevel } from "../../shared/log.ts";
import { openSerial } from "../serial/mod.ts";
import { FlashError } from "./errors.ts";
import { Flasher, type FlasherOptions } from "./flasher.ts";
import { backupJob, planImage, sha256Hex, writeJob } from "./jobs.ts";
import { fileBaseName, readUnitMac, uploadIdFor } from "./unit.ts";
import { identifyFirmware } from "../../shared/firmware-id.ts";
import { ProgressBoard } from "./progress.ts";
import { runBatch } from "./batch.ts";
import type { StockCheckOutcome } from "./stock_check.ts";
import { HttpFlashServer } from "./server-client.ts";
import { provisioningFromFile } from "./provision.ts";

const USAGE = `deno task agent flash <command> [options]
  backup  --port <path> --out <file> [--baud N] [--chip auto|bk7231n|bk7231t] [--start 0x.. --length 0x..]
          (with --server: a full backup is uploaded and reported; write and restore are reported too)
  write   --port <path> (--image <file> | --firmware-id <sha256>) [--chip ..] [--baud N] [--addr 0x11000] [--include-bootloader]
  restore --port <path> (--backup <file> | --backup-id <sha256>) [--baud N]
  batch   --port <p1> --port <p2> ... [--image <file> | --firmware-id <sha256>] [--backup-dir data/backups] [--provision <json>]
          [--stock-check report|hold]  (name the unit whose stock config differs; "hold" leaves it unerased)
common: --baud (default 921600, lower rates tried on failure), --link-timeout <s> (20), --state-dir (data/flash-jobs),
        --server <url> --agent-id <id> (token in $AGENT_TOKEN, or --token <t>; upload backups, register units, live page /flash), --log-level
Run the same command again after an interruption: the job resumes.`;

type Args = Record<string, string | undefined> & { _: string[]; port: string[] } & Record<string, unknown>;

function parse(args: string[]): Args {
  return parseArgs(args, {
    string: [
      "port",
      "out",
      "image",
      "baud",
      "chip",
      "addr",
      "state-dir",
      "backup-dir",
      "link-timeout",
      "server",
      "token",
      "agent-id",
      "backup",
      "backup-id",
      "firmware-id",
      "firmware-name",
      "start",
      "length",
      "log-level",
      "provision",
      "batch-id",
      "stock-check",
    ],
    boolean: ["include-bootloader", "help"],
    collect: ["port"],
  }) as unknown as Args;
}

function flasherOptions(a: Args, log: ReturnType<typeof createLogger>): FlasherOptions {
  const chip = (a.chip as string | undefined) ?? "auto";
  if (!["auto", "bk7231n", "bk7231t"].includes(chip)) throw new FlashError("BAD_IMAGE", `--chip ${chip}?`);
  return {
    chip: chip as "auto" | ChipKind,
    baud: a.baud ? Number(a.baud) : 921600,
    linkTimeoutMs: a["link-timeout"] ? Number(a["link-timeout"]) * 1000 : 20_000,
    log,
    onNeedReset: (msg) => console.error(`\x1b[1m>>> ${msg}\x1b[0m`),
  };
}

export async function runFlashCli(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const a = parse(rest);
  const log = createLogger({ level: ((a["log-level"] as string) ?? "warn") as LogLevel });
  const stateDir = (a["state-dir"] as string) ?? "data/flash-jobs";
  if (a.help || !sub) {
    console.log(USAGE);
    return;
  }
  const board = new ProgressBoard();
  const benchHost = Deno.hostname();
  const one = () => {
    if (a.port.length !== 1) throw new Error("exactly one --port is needed");
    return a.port[0];
  };
  try {
    switch (sub) {
      case "backup": {
        if (!a.out) throw new Error("--out <file> is needed");
        const port = one();
        const serial = await openSerial(port);
        try {
          const f = await Flasher.connect(serial, flasherOptions(a, log.child({ port })));
          const r = await backupJob(f, a.out as string, {
            onProgress: (p) => board.update(port, p),
            start: a.start ? Number(a.start) : undefined,
            length: a.length ? Number(a.length) : undefined,
          });
          await f.release();
          board.finish();
          console.log(
            `backup ${r.path}: ${r.size} bytes, sha256 ${r.sha256}, chip ${r.chip}, mac ${r.mac ?? "?"}` +
              (r.resumedChunks ? ` (resumed ${r.resumedChunks} verified chunks)` : ""),
          );
          const server = serverFrom(a);
          if (server && r.mac && r.size === f.info.flashSize) {
            await server.uploadBackup(
              { sha256: r.sha256, size: r.size, chip: r.chip, mac: r.mac, flashId: f.info.flashId, benchHost, port },
              r.image,
              uploadIdFor(undefined, port.split("/").pop()!),
            );
            await server.registerUnit({
              kind: "backup",
              chip: r.chip,
              mac: r.mac,
              flashId: f.info.flashId,
              bootloader: f.info.bootloader,
              backupId: r.sha256,
              backupSha256: r.sha256,
              benchHost,
              port,
              at: new Date().toISOString(),
            });
            console.log(`reported to ${a.server}: backup of unit ${r.mac}`);
          }
        } finally {
          await serial.close();
        }
        return;
      }
      case "write":
      case "restore": {
        const server = serverFrom(a);
        const img = sub === "write" ? await imageFrom(a, server) : a["backup-id"]
          ? {
            name: `backup-${a["backup-id"]}`,
            data: await need(server, "--backup-id").fetchBlob("backup", a["backup-id"] as string),
          }
          : a.backup
          ? { name: a.backup as string, data: await Deno.readFile(a.backup as string) }
          : undefined;
        if (!img) {
          throw new Error(
            sub === "write"
              ? "--image <file> or --firmware-id <sha256> is needed"
              : "--backup <file> or --backup-id <sha256> is needed",
          );
        }
        const port = one();
        const file = img.name;
        const image = img.data;
        const serial = await openSerial(port);
        try {
          const f = await Flasher.connect(serial, flasherOptions(a, log.child({ port })));
          const plan = planImage(image, f.info.chip, {
            name: file,
            addr: a.addr ? Number(a.addr) : undefined,
            includeBootloader: Boolean(a["include-bootloader"]),
            flashSize: f.info.flashSize,
          });
          // which unit this is (its TLV sector), read before anything is written, for the report
          const mac = server ? await readUnitMac(f) : undefined;
          const r = await writeJob(f, plan, { stateDir, onProgress: (p) => board.update(port, p) });
          await f.reboot();
          board.finish();
          console.log(
            `wrote ${fileBaseName(file)} (${plan.note}) at 0x${r.addr.toString(16)}, ${r.length} bytes verified` +
              (r.resumedBlocks ? ` (resumed: ${r.resumedBlocks} blocks already verified)` : ""),
          );
          if (server) {
            if (!mac) throw new Error("written, but not reported: no MAC in the unit's TLV sector");
            const fw = identifyFirmware(image, file);
            await server.registerUnit({
              kind: sub as "write" | "restore",
              chip: f.info.chip,
              mac,
              flashId: f.info.flashId,
              bootloader: f.info.bootloader,
              firmware: {
                name: fileBaseName(file),
                sha256: r.sha256,
                addr: r.addr,
                length: r.length,
                version: fw.source === "embedded" || fw.source === "rbl" ? fw.version : undefined,
                chip: fw.source === "embedded" ? fw.chip : undefined,
              },
              restoredBackup: sub === "restore" ? await sha256Hex(image) : undefined,
              benchHost,
              port,
              at: new Date().toISOString(),
            });
            console.log(`reported to ${a.server}: ${sub} on unit ${mac}`);
          }
        } finally {
          await serial.close();
        }
        return;
      }
      case "batch": {
        if (a.port.length === 0) throw new Error("at least one --port is needed");
        const server = serverFrom(a);
        const image = await imageFrom(a, server);
        const provision = a.provision ? await provisioningFromFile(a.provision as string, server) : undefined;
        const stockCheck = a["stock-check"] as string | undefined;
        if (stockCheck !== undefined && stockCheck !== "report" && stockCheck !== "hold") {
          throw new Error("--stock-check report|hold");
        }
        let check: StockCheckOutcome | undefined;
        const results = await runBatch({
          stockCheck,
          onStockCheck: (o) => (check = o),
          ports: a.port,
          image,
          backupDir: (a["backup-dir"] as string) ?? "data/backups",
          stateDir,
          server,
          provision,
          flasher: flasherOptions(a, log),
          clock: systemClock,
          log,
          board,
          batchId: a["batch-id"] as string | undefined,
        });
        board.finish();
        let failed = 0;
        for (const r of results) {
          if (r.ok && r.result.skipped) {
            console.log(`${r.port}: skipped, ${r.result.skipped}`);
          } else if (r.ok) {
            const u = r.result.record;
            console.log(
              `${r.port}: OK ${u.chip} mac ${u.mac ?? "?"} backup ${u.backupSha256?.slice(0, 12) ?? "-"}` +
                (u.firmware ? ` wrote ${u.firmware.name}` : ""),
            );
          } else {
            failed++;
            console.log(`${r.port}: FAILED ${describe(r.error)}`);
          }
        }
        if (check) {
          console.log(
            `stock-config check: ${check.outliers.length} outlier(s)${
              check.splits.length ? `, split: ${check.splits.join("; ")}` : ""
            }`,
          );
          for (const x of check.outliers) console.log(`  ${x.id}: ${x.differs.join("; ")}`);
        }
        if (failed) Deno.exitCode = 1;
        return;
      }
      default:
        console.error(USAGE);
        Deno.exitCode = 2;
    }
  } catch (e) {
    board.finish();
    console.error(describe(e));
    Deno.exitCode = 1;
  }
}

function serverFrom(a: Args): HttpFlashServer | undefined {
  if (!a.server) return undefined;
  // the token preferably from $AGENT_TOKEN: a command line is visible to every user (ps)
  const token = (a.token as string | undefined) ?? Deno.env.get("AGENT_TOKEN");
  return new HttpFlashServer(a.server as string, (a["agent-id"] as string) ?? Deno.hostname(), token);
}

function need(server: HttpFlashServer | undefined, what: string): HttpFlashServer {
  if (!server) throw new Error(`${what} needs --server <url> (and --agent-id, --token)`);
  return server;
}

/** --image <file>, or --firmware-id <sha256> from the server's firmware store. */
async function imageFrom(a: Args, server: HttpFlashServer | undefined) {
  if (a.image) return { name: a.image as string, data: await Deno.readFile(a.image as string) };
  if (a["firmware-id"]) {
    const sha = a["firmware-id"] as string;
    return {
      name: (a["firmware-name"] as string) ?? `firmware-${sha.slice(0, 12)}`,
      data: await need(server, "--firmware-id").fetchBlob("firmware", sha),
    };
  }
  return undefined;
}

export function describe(e: unknown): string {
  if (e instanceof FlashError) {
    return [
      `error [${e.code}]: ${e.message}`,
      ...e.guidance.map((g) => `  - ${g}`),
      e.resumable ? "  (run the same command again to resume)" : "",
    ].filter(Boolean).join("\n");
  }
  return `error: ${(e as Error)?.message ?? e}`;
}
