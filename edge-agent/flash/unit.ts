/**
 * One unit on one port, start to finish: get the bus, back up (verified,
 * resumable), hand the backup to the server, write the chosen image
 * (verified, resumable), optionally the OpenBeken config sector, register the
 * unit, reboot. The batch runs one of these per port concurrently.
 *
 * A port finished in an earlier run (its record in the state dir) is checked on
 * the chip — same MAC, written image still verifies by the chip's CRC — and
 * skipped, so re-running a batch resumes only the unfinished ports.
 */
import { type ChipKind, LAYOUTS, macFromTlvSector } from "../../shared/bk7231/mod.ts";
import { identifyFirmware } from "../../shared/firmware-id.ts";
import { FlashError } from "./errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { openSerial } from "../serial/mod.ts";
import { parseObkConfig } from "../../shared/obk-config.ts";
import { backupJob, type BackupResult, planImage, sha256Hex, writeJob, type WriteResult } from "./jobs.ts";
import { Flasher, type FlasherOptions, type Progress } from "./flasher.ts";

/** What the agent needs from the server; HTTP in server-client.ts, absent when offline. */
export interface FlashServer {
  /**
   * Store a verified backup (content-addressed: a known sha256 is not sent again). Returns its id.
   * `uploadId` names this upload (job, port, attempt): parallel uploads never share staging.
   */
  uploadBackup(meta: BackupMeta, image: Uint8Array, uploadId: string): Promise<string>;
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
  /** which bench job this reports */
  kind: "batch" | "write" | "restore" | "backup";
  chip: ChipKind;
  mac?: string;
  flashId?: number;
  bootloader?: string;
  backupId?: string;
  backupSha256?: string;
  /** name = the file's base name (never a host path); version/chip as read from the image */
  firmware?: {
    name: string;
    sha256: string;
    addr: number;
    length: number;
    version?: string | null;
    chip?: string | null;
  };
  /** a restore: sha256 of the full backup written back */
  restoredBackup?: string;
  /** provisioning profile id (shared/profiles): the server records model, module, metering chip */
  profile?: string;
  batchId?: string;
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
  configSector?:
    & ((unit: { chip: ChipKind; mac?: string; backup?: Uint8Array }) => Promise<Uint8Array | undefined>)
    & { profile?: string };
  /**
   * Runs after the backup and before anything is erased; throwing stops this unit untouched
   * (the batch's stock-config outlier check).
   */
  beforeErase?: (backup: { image: Uint8Array; sha256: string; mac?: string } | undefined) => Promise<void>;
  /**
   * In a batch: claim this MAC for this port; returns the port that already holds it, if any
   * (two ports presenting one MAC are refused, never merged).
   */
  claimMac?: (mac: string, port: string) => string | null;
  /** Skip the backup (e.g. restoring a backup onto the same unit). */
  skipBackup?: boolean;
  /** how the job is reported (default batch); a restore names the backup it wrote */
  kind?: "batch" | "restore";
  restoredBackup?: string;
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
  /** finished in an earlier run and verified on the chip: nothing was done now */
  skipped?: string;
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

    const plan = j.image
      ? planImage(j.image.data, f.info.chip, {
        name: j.image.name,
        includeBootloader: j.includeBootloader,
        flashSize: f.info.flashSize,
      })
      : undefined;
    const donePath = `${j.stateDir}/done-${portBase.replace(/[^A-Za-z0-9_.-]+/g, "_")}.json`;
    const earlier = await finishedEarlier(f, donePath, plan ? await sha256Hex(plan.data) : null, plan);
    if (earlier) {
      const note = `already done (unit ${earlier.mac ?? "?"}, ${earlier.at}): image verified on the chip`;
      j.log.info("port skipped", { note });
      j.onProgress?.({ phase: "done", done: 1, total: 1 }, "skipped: already done");
      await f.reboot();
      return {
        port: j.port,
        skipped: note,
        info: f.info,
        configWritten: earlier.configWritten ?? false,
        record: earlier,
      };
    }

    // no backup to learn the MAC from (a restore): read it from the TLV sector before anything is written
    const macRead = j.skipBackup ? await readUnitMac(f) : undefined;
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
      const holder = backup.mac ? j.claimMac?.(backup.mac, j.port) : null;
      if (holder) {
        throw new FlashError(
          "REFUSED",
          `port ${holder} already presented MAC ${backup.mac} in this batch: two units with one MAC are refused, ` +
            `not merged (a copied TLV sector?). Nothing was written to this unit; its backup is ${final}`,
        );
      }
      if (j.server) {
        j.onProgress?.({ phase: "upload", done: 0, total: backup.size });
        backupId = await j.server.uploadBackup(
          {
            sha256: backup.sha256,
            size: backup.size,
            chip: f.info.chip,
            mac: backup.mac,
            flashId: f.info.flashId,
            benchHost: j.benchHost,
            port: j.port,
            batchId: j.batchId,
          },
          backup.image,
          uploadIdFor(j.batchId, portBase),
        );
        j.onProgress?.({ phase: "upload", done: backup.size, total: backup.size });
      }
    }

    await j.beforeErase?.(backup ? { image: backup.image, sha256: backup.sha256, mac: backup.mac } : undefined);

    let write: WriteResult | undefined;
    let configWritten = false;
    let topic: string | undefined;
    if (j.image && plan) {
      // built before erasing: a config that cannot be made (no MAC, no stock config) leaves the unit untouched
      const sector = await j.configSector?.({ chip: f.info.chip, mac: backup?.mac, backup: backup?.image });
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

    const fw = j.image ? identifyFirmware(j.image.data, j.image.name) : null;
    const record: UnitRecord = {
      kind: j.kind ?? "batch",
      ...(j.restoredBackup ? { restoredBackup: j.restoredBackup } : {}),
      chip: f.info.chip,
      mac: backup?.mac ?? macRead,
      flashId: f.info.flashId,
      bootloader: f.info.bootloader,
      backupId,
      backupSha256: backup?.sha256,
      firmware: j.image && write
        ? {
          name: fileBaseName(j.image.name),
          sha256: write.sha256,
          addr: write.addr,
          length: write.length,
          version: fw?.source === "embedded" || fw?.source === "rbl" ? fw.version : undefined,
          chip: fw?.source === "embedded" ? fw.chip : undefined,
        }
        : undefined,
      profile: j.configSector?.profile,
      batchId: j.batchId,
      configWritten,
      topic,
      benchHost: j.benchHost,
      port: j.port,
      at: new Date(j.clock.now()).toISOString(),
    };
    if (j.server) await j.server.registerUnit(record);
    if (plan && write) await Deno.writeTextFile(donePath, JSON.stringify({ ...record, imageSha256: write.sha256 }));
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

export const fileBaseName = (p: string) => p.split(/[\\/]/).pop() ?? p;

/** Upload names: batch, port and attempt (a new process run is a new attempt). */
export function uploadIdFor(batchId: string | undefined, portBase: string): string {
  const attempt = crypto.randomUUID().slice(0, 8);
  return `${batchId ?? "job"}~${portBase}~${attempt}`.replace(/[^A-Za-z0-9_.~-]/g, "_").slice(0, 120);
}

/** The MAC from the chip's TLV sector (one 4 KiB read), for jobs that take no backup. */
export async function readUnitMac(f: Flasher): Promise<string | undefined> {
  const sector = await f.readSector(LAYOUTS[f.info.chip].tlv);
  return macFromTlvSector(sector) ?? undefined;
}

type DoneRecord = UnitRecord & { imageSha256?: string };

/**
 * This port's record from an earlier run, if the unit now on the port is that unit (same
 * MAC in its TLV sector) and the image written then still verifies by the chip's CRC.
 */
async function finishedEarlier(
  f: Flasher,
  donePath: string,
  imageSha: string | null,
  plan: { addr: number; data: Uint8Array } | undefined,
): Promise<DoneRecord | null> {
  if (!plan || !imageSha) return null;
  let done: DoneRecord;
  try {
    done = JSON.parse(await Deno.readTextFile(donePath)) as DoneRecord;
  } catch {
    return null;
  }
  if (done.imageSha256 !== imageSha || done.chip !== f.info.chip) return null;
  if (!done.mac || (await readUnitMac(f)) !== done.mac) return null;
  return (await f.verify(plan.addr, plan.data)) ? done : null;
}
