/**
 * One unit on one port, start to finish: get the bus, back up (verified,
 * resumable), hand the backup to the server, write the chosen image
 * (verified, resumable), optionally the OpenBeken config sector, register the
 * unit, reboot. The batch runs one of these per port concurrently.
 */
import { type ChipKind, LAYOUTS } from "../../shared/bk7231/mod.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { openSerial } from "../serial/mod.ts";
import { parseObkConfig } from "../../shared/obk-config.ts";
import { backupJob, type BackupResult, planImage, writeJob, type WriteResult } from "./jobs.ts";
import { Flasher, type FlasherOptions, type Progress } from "./flasher.ts";

/** What the agent needs from the server; HTTP in server-client.ts, absent when offline. */
export interface FlashServer {
  /** Store a verified backup (content-addressed: a known sha256 is not sent again). Returns its id. */
  uploadBackup(meta: BackupMeta, image: Uint8Array): Promise<string>;
  registerUnit(record: UnitRecord): Promise<void>;
}

export interface BackupMeta {
  sha256: string;
  size: number;
  chip: ChipKind;
  mac?: string;
  flashId?: number;
  benchHost: string;
  port: string;
  /** the flash batch this backup belongs to: the server compares a batch's stock configs */
  batchId?: string;
}

export interface UnitRecord {
  chip: ChipKind;
  mac?: string;
  flashId?: number;
  bootloader?: string;
  backupId?: string;
  backupSha256?: string;
  firmware?: { name: string; sha256: string; addr: number; length: number };
  configWritten?: boolean;
  /** MQTT topic written into the config sector: how the unit is recognised when it comes online */
  topic?: string;
  benchHost: string;
  port: string;
  at: string;
}

export interface UnitJob {
  port: string;
  /** Where backups go; resumable partials are named after the port. */
  backupDir: string;
  stateDir: string;
  image?: { name: string; data: Uint8Array };
  /** Builds the OpenBeken config sector once the unit's MAC (and its stock backup) is known. */
  configSector?: (unit: { chip: ChipKind; mac?: string; backup?: Uint8Array }) => Promise<Uint8Array | undefined>;
  /**
   * Runs after the backup and before anything is erased; throwing stops this unit untouched
   * (the batch's stock-config outlier check).
   */
  beforeErase?: (backup: { image: Uint8Array; sha256: string; mac?: string } | undefined) => Promise<void>;
  /** Skip the backup (e.g. restoring a backup onto the same unit). */
  skipBackup?: boolean;
  includeBootloader?: boolean;
  server?: FlashServer;
  benchHost: string;
  batchId?: string;
  flasher: FlasherOptions;
  clock: Clock;
  log: Logger;
  onProgress?: (p: Progress | { phase: string; done: number; total: number }, note?: string) => void;
}

export interface UnitResult {
  port: string;
  info: Flasher["info"];
  backup?: Omit<BackupResult, "image">;
  backupId?: string;
  write?: WriteResult;
  configWritten: boolean;
  record: UnitRecord;
}

export async function flashUnit(j: UnitJob): Promise<UnitResult> {
  const portBase = j.port.split("/").pop()!;
  const serial = await openSerial(j.port, { baud: 115200 });
  try {
    j.onProgress?.({ phase: "link", done: 0, total: 1 }, "getting bus");
    const f = await Flasher.connect(serial, {
      ...j.flasher,
      clock: j.clock,
      log: j.log,
      // in a batch, say which unit needs a hand
      onNeedReset: (msg) => {
        j.onProgress?.({ phase: "link", done: 0, total: 1 }, "reset this unit now (CEN to GND or power-cycle)");
        j.flasher.onNeedReset?.(`${j.port}: ${msg}`);
      },
    });
    j.onProgress?.({ phase: "link", done: 1, total: 1 }, `${f.info.bootloader ?? f.info.chip} @ ${f.info.baud}`);

    let backup: BackupResult | undefined;
    let backupId: string | undefined;
    if (!j.skipBackup) {
      await Deno.mkdir(j.backupDir, { recursive: true });
      const partialName = `${j.backupDir}/${portBase}.bin`;
      backup = await backupJob(f, partialName, { onProgress: (p) => j.onProgress?.(p) });
      // name the verified backup after the unit; content-addressed on the server anyway
      const final = `${j.backupDir}/${f.info.chip}-${(backup.mac ?? "nomac").replaceAll(":", "")}-${
        backup.sha256.slice(0, 12)
      }.bin`;
      await Deno.rename(partialName, final);
      backup.path = final;
      j.log.info("backup verified", { path: final, sha256: backup.sha256, mac: backup.mac });
      if (j.server) {
        j.onProgress?.({ phase: "upload", done: 0, total: backup.size });
        backupId = await j.server.uploadBackup({
          sha256: backup.sha256,
          size: backup.size,
          chip: f.info.chip,
          mac: backup.mac,
          flashId: f.info.flashId,
          benchHost: j.benchHost,
          port: j.port,
          batchId: j.batchId,
        }, backup.image);
        j.onProgress?.({ phase: "upload", done: backup.size, total: backup.size });
      }
    }

    await j.beforeErase?.(backup ? { image: backup.image, sha256: backup.sha256, mac: backup.mac } : undefined);

    let write: WriteResult | undefined;
    let configWritten = false;
    let topic: string | undefined;
    if (j.image) {
      // built before erasing: a config that cannot be made (no MAC, no stock config) leaves the unit untouched
      const sector = await j.configSector?.({ chip: f.info.chip, mac: backup?.mac, backup: backup?.image });
      const plan = planImage(j.image.data, f.info.chip, {
        name: j.image.name,
        includeBootloader: j.includeBootloader,
        flashSize: f.info.flashSize,
      });
      j.log.info("writing image", { name: j.image.name, addr: plan.addr, bytes: plan.data.length, note: plan.note });
      write = await writeJob(f, plan, {
        stateDir: j.stateDir,
        jobName: portBase,
        onProgress: (p) => j.onProgress?.(p),
      });
      if (sector) {
        const at = LAYOUTS[f.info.chip].obkConfig;
        await writeJob(f, { addr: at, data: sector, note: "OpenBeken config" }, {
          stateDir: j.stateDir,
          jobName: `${portBase}-config`,
        });
        configWritten = true;
        topic = parseObkConfig(sector).mqttTopic;
      }
      await f.reboot();
    }

    const record: UnitRecord = {
      chip: f.info.chip,
      mac: backup?.mac,
      flashId: f.info.flashId,
      bootloader: f.info.bootloader,
      backupId,
      backupSha256: backup?.sha256,
      firmware: j.image && write
        ? { name: j.image.name, sha256: write.sha256, addr: write.addr, length: write.length }
        : undefined,
      configWritten,
      topic,
      benchHost: j.benchHost,
      port: j.port,
      at: new Date(j.clock.now()).toISOString(),
    };
    if (j.server) await j.server.registerUnit(record);
    j.onProgress?.({ phase: "done", done: 1, total: 1 }, record.mac ?? "");
    const { image: _image, ...backupMeta } = backup ?? ({} as BackupResult);
    return {
      port: j.port,
      info: f.info,
      backup: backup ? backupMeta : undefined,
      backupId,
      write,
      configWritten,
      record,
    };
  } finally {
    await serial.close();
  }
}
