/**
 * Flash jobs on a connected chip: a verified, resumable full backup to a file,
 * and a verified, resumable image write. Both journal each verified chunk
 * (journal.ts); an interrupted job run again continues where it stopped.
 * A backup only ever appears under its final name once every chunk has been
 * verified by the chip's CRC; until then it is `<out>.partial`.
 */
import { type ChipKind, crc32Jam, identifyBackup, SECTOR, T_BOOTLOADER_END } from "../../shared/bk7231/mod.ts";
import { FlashError } from "./errors.ts";
import type { Flasher, Progress } from "./flasher.ts";
import { Journal } from "./journal.ts";

export interface BackupResult {
  path: string;
  sha256: string;
  size: number;
  chip: ChipKind;
  flashId?: number;
  mac?: string;
  /** Chunks taken from an earlier interrupted run (after the chip re-confirmed them). */
  resumedChunks: number;
  image: Uint8Array;
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function readAt(file: Deno.FsFile, off: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  await file.seek(off, Deno.SeekMode.Start);
  let got = 0;
  while (got < len) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf;
}

async function writeAt(file: Deno.FsFile, off: number, data: Uint8Array) {
  await file.seek(off, Deno.SeekMode.Start);
  let put = 0;
  while (put < data.length) put += await file.write(data.subarray(put));
}

export async function backupJob(
  f: Flasher,
  out: string,
  o: { onProgress?: (p: Progress) => void; start?: number; length?: number } = {},
): Promise<BackupResult> {
  const start = o.start ?? 0;
  const length = o.length ?? f.info.flashSize - start;
  if (start % SECTOR || length % SECTOR || length <= 0 || start + length > f.info.flashSize) {
    throw new FlashError(
      "BAD_IMAGE",
      `range 0x${start.toString(16)}+0x${length.toString(16)} is not 4 KiB aligned inside the flash`,
    );
  }
  const partial = `${out}.partial`;
  const journal = await Journal.open(`${out}.journal.json`, {
    kind: "backup",
    target: out,
    start,
    length,
    chip: f.info.chip,
  });
  if (journal.data.chip !== f.info.chip) journal.data.done = {};
  let resumedChunks = 0;
  const file = await Deno.open(partial, { read: true, write: true, create: true });
  try {
    if ((await file.stat()).size !== length) await file.truncate(length);
    await f.readRange(start, length, {
      onProgress: o.onProgress,
      skip: async (off, len) => {
        const crc = journal.doneCrc(off);
        if (crc === undefined) return false;
        const bytes = await readAt(file, off - start, len);
        if (crc32Jam(bytes) === crc && await f.verify(off, bytes)) {
          resumedChunks++;
          return true;
        }
        await journal.forget(off);
        return false;
      },
      onChunk: async (off, data) => {
        await writeAt(file, off - start, data);
        await file.syncData();
        await journal.markDone(off, crc32Jam(data));
      },
    });
  } finally {
    file.close();
  }
  const image = await Deno.readFile(partial);
  // every chunk was chip-verified; check the file we assembled still matches the journal
  for (let off = start; off < start + length; off += 0x8000) {
    const crc = journal.doneCrc(off);
    const rel = off - start;
    if (crc !== undefined && crc !== crc32Jam(image.subarray(rel, Math.min(length, rel + 0x8000)))) {
      await journal.forget(off);
      throw new FlashError("VERIFY_FAILED", `backup file changed under us at 0x${off.toString(16)}`, [], true);
    }
  }
  await Deno.rename(partial, out);
  await journal.remove();
  const id = start === 0 ? identifyBackup(image) : {};
  return {
    path: out,
    sha256: await sha256Hex(image),
    size: image.length,
    chip: f.info.chip,
    flashId: f.info.flashId,
    mac: id.mac,
    resumedChunks,
    image,
  };
}

export interface WritePlan {
  addr: number;
  data: Uint8Array;
  note: string;
}

/**
 * Where an image goes. A full-flash image (a backup being restored, or an
 * OpenBeken `_QIO_` file) is written from 0x11000 with its first 0x11000 bytes
 * skipped, like the GUI flasher; an app-only (`_UA_`) image goes to 0x11000.
 * Only on BK7231N, and only when asked, is the bootloader area written too.
 */
export function planImage(
  image: Uint8Array,
  chip: ChipKind,
  o: { name?: string; addr?: number; includeBootloader?: boolean; flashSize?: number } = {},
): WritePlan {
  const flashSize = o.flashSize ?? 0x200000;
  if (o.addr !== undefined) {
    if (chip === "bk7231t" && o.addr < T_BOOTLOADER_END) {
      throw new FlashError(
        "REFUSED",
        `--addr 0x${o.addr.toString(16)} is inside the BK7231T bootloader (below 0x11000)`,
      );
    }
    if (o.addr % SECTOR) throw new FlashError("BAD_IMAGE", "--addr must be 4 KiB aligned");
    return { addr: o.addr, data: image, note: `as given at 0x${o.addr.toString(16)}` };
  }
  const fullImage = image.length === flashSize || /_QIO_/i.test(o.name ?? "");
  if (image.length > flashSize) {
    throw new FlashError("BAD_IMAGE", `image is ${image.length} bytes, larger than the flash`);
  }
  if (fullImage) {
    if (o.includeBootloader) {
      if (chip !== "bk7231n") {
        throw new FlashError("REFUSED", "writing the bootloader is only possible on BK7231N (ROM loader)");
      }
      return { addr: 0, data: image, note: "full image including bootloader (BK7231N)" };
    }
    if (image.length <= T_BOOTLOADER_END) {
      throw new FlashError("BAD_IMAGE", "full-flash image shorter than the bootloader");
    }
    return {
      addr: T_BOOTLOADER_END,
      data: image.subarray(T_BOOTLOADER_END),
      note: "full image, bootloader area skipped",
    };
  }
  return { addr: T_BOOTLOADER_END, data: image, note: "app image at 0x11000" };
}

export interface WriteResult {
  addr: number;
  length: number;
  sha256: string;
  resumedBlocks: number;
}

/** Write `plan` with a journal under `stateDir`; rerunning after a failure resumes. */
export async function writeJob(
  f: Flasher,
  plan: WritePlan,
  o: { stateDir: string; onProgress?: (p: Progress) => void; jobName?: string },
): Promise<WriteResult> {
  const sha = await sha256Hex(plan.data);
  await Deno.mkdir(o.stateDir, { recursive: true });
  const portName = (o.jobName ?? f.port.path).replace(/[^A-Za-z0-9_.-]+/g, "_");
  const length = Math.ceil(plan.data.length / SECTOR) * SECTOR;
  const padded = new Uint8Array(length).fill(0xff);
  padded.set(plan.data);
  const journal = await Journal.open(`${o.stateDir}/write-${portName}.json`, {
    kind: "write",
    target: `${sha}@${plan.addr}`,
    start: plan.addr,
    length,
    chip: f.info.chip,
  });
  let resumedBlocks = 0;
  const slice = (off: number, len: number) => padded.subarray(off - plan.addr, off - plan.addr + len);
  await f.writeRange(plan.addr, plan.data, {
    onProgress: o.onProgress,
    skip: async (off, len) => {
      const crc = journal.doneCrc(off);
      if (crc === undefined || crc !== crc32Jam(slice(off, len))) return false;
      if (await f.verify(off, slice(off, len))) {
        resumedBlocks++;
        return true;
      }
      await journal.forget(off);
      return false;
    },
    onBlock: (off, len) => journal.markDone(off, crc32Jam(slice(off, len))),
  });
  await journal.remove();
  return { addr: plan.addr, length, sha256: sha, resumedBlocks };
}
