/**
 * Chip knowledge as data: bootloader fingerprints, protocol families, flash
 * status-register sizes, partition layouts.
 * Reference: ../shared/reference/bk7231-bootloader.md §3 (BKT enums.py, GUI BKFlashList.cs, LT boards).
 */

export type ChipKind = "bk7231n" | "bk7231t";
export type Protocol = "FULL" | "BASIC_TUYA" | "BASIC_BEKEN";

export interface Bootloader {
  name: string;
  protocol: Protocol;
  chip: ChipKind | "bk7231u" | "bk7231q" | "bk7238";
}

/** Raw CheckCRC(0, 0x100) reply (JAMCRC as on the wire) → bootloader (§3.5). */
export const BOOT_FINGERPRINTS: Record<number, Bootloader> = {
  0x1ebe6e45: { name: "BK7231N 1.0.1", protocol: "FULL", chip: "bk7231n" },
  0x3e13578e: { name: "BK7231S 1.0.1", protocol: "BASIC_TUYA", chip: "bk7231t" },
  0xb4ce1bb2: { name: "BK7231S 1.0.3", protocol: "BASIC_TUYA", chip: "bk7231t" },
  0x45ab3e47: { name: "BK7231S 1.0.5", protocol: "BASIC_TUYA", chip: "bk7231t" },
  0x1a3436ac: { name: "BK7231S 1.0.6", protocol: "BASIC_TUYA", chip: "bk7231t" },
  0xd8c6fe60: { name: "BK7231U 1.0.6", protocol: "BASIC_BEKEN", chip: "bk7231u" },
  0x0fdce109: { name: "BK7231Q", protocol: "BASIC_BEKEN", chip: "bk7231q" },
  0x9414f6db: { name: "BK7238 1.0.14", protocol: "FULL", chip: "bk7238" },
};

/** SCTRL_CHIP_ID register on FULL (ROM) chips. */
export const CHIP_ID_REG = 0x00800000;
export const CHIP_IDS: Record<number, string> = { 0x7231c: "bk7231n", 0x7238: "bk7238" };

/** BK7231T: the flash bootloader lives here; erasing/writing it bricks the chip (§3.3). */
export const T_BOOTLOADER_END = 0x11000;

/**
 * CheckCRC's `end` argument for the byte range [start, endExclusive):
 * the N ROM treats `end` as inclusive, the T bootloader as exclusive (§2.5).
 */
export const crcEnd = (protocol: Protocol, endExclusive: number) =>
  protocol === "FULL" ? endExclusive - 1 : endExclusive;

/** Flash status register size by JEDEC id bytes M T C (BKT FLASH_SR_SIZE, §3.6). */
const SR2 = [
  "0b4014",
  "0b4015",
  "0b4016",
  "0b4017",
  "0b6017",
  "0e4016",
  "204016",
  "852015",
  "856013",
  "856014",
  "856016",
  "856017",
  "c22314",
  "c22315",
  "c84014",
  "c84015",
  "c86515",
  "c86516",
  "c86517",
  "cd6014",
  "eb6015",
  "ef4016",
  "ef4018",
];
const SR1 = [
  "1c3113",
  "1c4116",
  "1c7015",
  "1c7016",
  "514013",
  "514014",
  "5e4014",
  "854215",
  "c84013",
  "c84016",
  "e04013",
  "e04014",
];

/** `mid` = M | T<<8 | C<<16 as returned by GetMID. */
export const midKey = (mid: number) =>
  [mid & 0xff, (mid >> 8) & 0xff, (mid >> 16) & 0xff].map((b) => b.toString(16).padStart(2, "0")).join("");

export function statusRegisterSize(mid: number): 1 | 2 | undefined {
  const k = midKey(mid);
  if (SR2.includes(k)) return 2;
  if (SR1.includes(k)) return 1;
  return undefined;
}
/** Block-protect bits BP0..BP4 plus CMP (BKT 0x407C; 1-byte parts have no CMP). */
export const srProtectMask = (size: 1 | 2) => (size === 2 ? 0x407c : 0x7c);
export const flashSizeFromMid = (mid: number) => 1 << ((mid >> 16) & 0xff);

export interface FlashLayout {
  /** RF calibration / TLV sector that holds the MAC (ltchiptool). */
  tlv: number;
  /** OpenBeken's own configuration sector (GUI OBKFlashLayout.cs). */
  obkConfig: number;
  /** Where an OpenBeken UA (app-only) image starts. */
  app: number;
}

export const LAYOUTS: Record<ChipKind, FlashLayout> = {
  bk7231t: { tlv: 0x1e0000, obkConfig: 0x1e1000, app: 0x11000 },
  bk7231n: { tlv: 0x1d0000, obkConfig: 0x1d1000, app: 0x11000 },
};

/** MAC in the TLV sector: bytes 0x1C..0x23 are `02 11 11 11 06 00 00 00`, MAC at 0x24 (§3.2). */
export function macFromTlvSector(sector: Uint8Array): string | null {
  const magic = [0x02, 0x11, 0x11, 0x11, 0x06, 0x00, 0x00, 0x00];
  if (sector.length < 0x2a) return null;
  for (let i = 0; i < magic.length; i++) if (sector[0x1c + i] !== magic[i]) return null;
  const mac = sector.subarray(0x24, 0x2a);
  if (mac.every((b) => b === 0xff) || mac.every((b) => b === 0)) return null;
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Find the MAC in a full flash backup, trying both chips' TLV sectors. */
export function identifyBackup(image: Uint8Array): { chip?: ChipKind; mac?: string } {
  for (const chip of ["bk7231n", "bk7231t"] as ChipKind[]) {
    const at = LAYOUTS[chip].tlv;
    if (image.length < at + 0x1000) continue;
    const mac = macFromTlvSector(image.subarray(at, at + 0x1000));
    if (mac) return { chip, mac };
  }
  return {};
}
