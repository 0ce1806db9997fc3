/**
 * Firmware registry: OpenBeken artefacts, each stored once (blob by sha256)
 * with what we learnt from it. RBL packages are the only thing a rollout may
 * send; UART images (`_QIO_`, `_UA_`) are kept for the bench flasher but
 * refused for OTA; Tuya `_UG_` images and unknown files are refused outright.
 *
 * Keys (this module owns them):
 *   ["firmware", id]             -> Firmware
 *   ["firmware_by_sha", sha256]  -> id   (unique: one record per content)
 * Blob bytes: server/kv/blobs.ts.
 */
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import { classifyArtefact, type FirmwareKind, type RblHeader, verifyRbl } from "../../shared/rbl.ts";
import { CodecError } from "../../shared/errors.ts";
import { isBackupBlob, putBlob, sha256Hex } from "../kv/blobs.ts";
import { auditOp } from "../kv/audit.ts";

/** Platforms this fleet manager knows how to update over the air. */
export const OTA_PLATFORMS = ["BK7231N", "BK7231T"] as const;
/** A BK7231 OTA partition is < 1 MiB and a full flash 2 MiB; 4 MiB refuses nonsense early. */
export const MAX_FIRMWARE_BYTES = 4 * 1024 * 1024;

export interface Firmware {
  id: string;
  filename: string;
  kind: FirmwareKind;
  platform: string;
  version: string;
  variant: string | null;
  sha256: string;
  size: number;
  rbl: RblHeader | null;
  otaAllowed: boolean;
  uploadedAt: number;
  uploadedBy: string;
  notes: string;
}

export class FirmwareRejected extends Error {
  override name = "FirmwareRejected";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface FirmwareUpload {
  filename: string;
  bytes: Uint8Array;
  by: string;
  /** overrides when the file name does not carry them */
  platform?: string;
  version?: string;
  notes?: string;
  now?: number;
}

/** Validate, store once, record. Returns the existing record when the same bytes were uploaded before. */
export async function registerFirmware(
  kv: Deno.Kv,
  up: FirmwareUpload,
): Promise<{ firmware: Firmware; existed: boolean }> {
  const now = up.now ?? Date.now();
  if (up.bytes.length === 0) throw new FirmwareRejected("empty", "the file is empty");
  if (up.bytes.length > MAX_FIRMWARE_BYTES) {
    throw new FirmwareRejected(
      "too_large",
      `the file is ${up.bytes.length} bytes, over the ${MAX_FIRMWARE_BYTES}-byte limit`,
    );
  }
  const c = classifyArtefact(up.filename, up.bytes);
  let rbl: RblHeader | null = null;
  if (c.kind === "rbl") {
    try {
      rbl = verifyRbl(up.bytes);
    } catch (e) {
      if (e instanceof CodecError) throw new FirmwareRejected(e.code, `corrupt RBL package: ${e.message}`);
      throw e;
    }
  } else if (c.kind === "tuya_ug") {
    throw new FirmwareRejected(
      "tuya_ug",
      "a Tuya _UG_ image is not an OpenBeken OTA or UART image (it bricks units when used for OTA)",
    );
  } else if (c.kind === "unknown") {
    throw new FirmwareRejected(
      "unknown_kind",
      c.contentIsRbl
        ? "unrecognised file"
        : `${up.filename} is neither an RBL package (no "RBL" magic) nor an Open<chip>_QIO_/_UA_ UART image`,
    );
  }
  const platform = (up.platform ?? c.platform ?? "").toUpperCase();
  if (!(OTA_PLATFORMS as readonly string[]).includes(platform)) {
    throw new FirmwareRejected(
      "platform",
      platform
        ? `platform ${platform} is not supported (${OTA_PLATFORMS.join(", ")})`
        : "platform unknown: name the file Open<chip>_<version>.rbl or give a platform",
    );
  }
  if (up.platform && c.platform && up.platform.toUpperCase() !== c.platform) {
    throw new FirmwareRejected("platform", `the file name says ${c.platform} but ${up.platform} was given`);
  }
  const version = up.version ?? c.version;
  if (!version || !/^[A-Za-z0-9._-]{1,40}$/.test(version)) {
    throw new FirmwareRejected("version", "version unknown: name the file Open<chip>_<version>.rbl or give a version");
  }

  // a customer's backup uploaded as "firmware" would be served to anyone on /fw: never
  if (await isBackupBlob(kv, await sha256Hex(up.bytes))) {
    throw new FirmwareRejected("backup", "these bytes are a stored flash backup, not a firmware image");
  }
  const blob = await putBlob(kv, up.bytes, now);
  return await untilCommitted("firmware registration", async () => {
    const owner = await kv.get<string>(["firmware_by_sha", blob.sha256]);
    if (owner.value) {
      const fw = await getFirmware(kv, owner.value);
      if (fw) return { firmware: fw, existed: true };
    }
    const firmware: Firmware = {
      id: `fw-${blob.sha256.slice(0, 12)}`,
      filename: up.filename.split(/[\\/]/).pop()!,
      kind: c.kind,
      platform,
      version,
      variant: c.variant,
      sha256: blob.sha256,
      size: up.bytes.length,
      rbl,
      otaAllowed: c.kind === "rbl",
      uploadedAt: now,
      uploadedBy: up.by,
      notes: up.notes ?? "",
    };
    const op = kv.atomic().check(owner).set(["firmware", firmware.id], firmware).set(
      ["firmware_by_sha", blob.sha256],
      firmware.id,
    );
    auditOp(op, {
      actor: up.by,
      action: "firmware.upload",
      target: `firmware:${firmware.id}`,
      details: {
        filename: firmware.filename,
        kind: firmware.kind,
        platform,
        version,
        sha256: blob.sha256,
        size: firmware.size,
      },
    }, now);
    return (await op.commit()).ok ? { firmware, existed: false } : CONFLICT;
  });
}

/** The firmware record holding this content, or null (a blob that is not firmware, e.g. a flash backup). */
export async function firmwareIdBySha(kv: Deno.Kv, sha256: string): Promise<string | null> {
  return (await kv.get<string>(["firmware_by_sha", sha256])).value;
}

export async function getFirmware(kv: Deno.Kv, id: string): Promise<Firmware | null> {
  return (await kv.get<Firmware>(["firmware", id])).value;
}

export async function listFirmware(kv: Deno.Kv): Promise<Firmware[]> {
  const out: Firmware[] = [];
  for await (const e of kv.list<Firmware>({ prefix: ["firmware"] })) out.push(e.value);
  return out.sort((a, b) => b.uploadedAt - a.uploadedAt);
}
