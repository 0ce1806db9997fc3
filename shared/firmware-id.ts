/**
 * What firmware an image is, for the record: family, chip and version, read
 * from the bytes first and from the file name last — never the path the
 * image happened to have on a bench host.
 *
 * 1. OpenBeken embeds `Open<CHIP> <USER_SW_VER> <__DATE__> <__TIME__>` as one
 *    string literal (src/mqtt/new_mqtt.c, BUILD_AND_VERSION_FOR_MQTT; the
 *    same text a unit publishes on `<topic>/build`). A UART image (`_UA_`,
 *    `_QIO_`) and a stock backup that already ran OpenBeken carry it in the clear.
 * 2. An RBL package's header has a version field (shared/rbl.ts); its body is
 *    encrypted, so the chip comes from the name.
 * 3. The release file name `Open<CHIP>_[QIO_|UA_]<version>.bin|rbl`.
 * Pure code, no I/O.
 */
import { isRbl, parseArtefactName, parseRblHeader } from "./rbl.ts";

export interface FirmwareIdentity {
  family: "OpenBeken" | "unknown";
  /** "BK7231N", null when nothing says */
  chip: string | null;
  /** USER_SW_VER, e.g. "1.18.299" or "1.18.299_powerMetering"; null when nothing says */
  version: string | null;
  /** where the version came from */
  source: "embedded" | "rbl" | "name" | "none";
  /** the file's base name (no directories), for display */
  fileName: string | null;
}

// "OpenBK7231N 1.18.299 Jul 24 2026 10:41:55" (__DATE__ pads a one-digit day with a space)
const BUILD_STRING = /Open([A-Z0-9]{4,12}) ([A-Za-z0-9._-]{1,40}) ([A-Z][a-z]{2} [ 0-9]\d \d{4}) (\d\d:\d\d:\d\d)/;

/** Scan for the embedded build string (latin1 view: every byte one char, so offsets hold). */
export function embeddedBuildString(image: Uint8Array): { chip: string; version: string; built: string } | null {
  const marker = [0x4f, 0x70, 0x65, 0x6e]; // "Open"
  const step = 1 << 16;
  for (let start = 0; start < image.length; start += step) {
    // overlapping windows so a string across a window edge is still found
    const end = Math.min(image.length, start + step + 96);
    const win = image.subarray(start, end);
    if (win.indexOf(marker[0]) === -1) continue;
    const text = new TextDecoder("latin1").decode(win);
    const m = BUILD_STRING.exec(text);
    if (m) return { chip: m[1], version: m[2], built: `${m[3]} ${m[4]}` };
  }
  return null;
}

export function identifyFirmware(image: Uint8Array, path?: string | null): FirmwareIdentity {
  const fileName = path ? path.split(/[\\/]/).pop() ?? null : null;
  const byName = fileName ? parseArtefactName(fileName) : null;
  const embedded = embeddedBuildString(image);
  if (embedded) {
    return { family: "OpenBeken", chip: embedded.chip, version: embedded.version, source: "embedded", fileName };
  }
  if (isRbl(image)) {
    try {
      const h = parseRblHeader(image);
      if (h.version) {
        return { family: "OpenBeken", chip: byName?.platform ?? null, version: h.version, source: "rbl", fileName };
      }
    } catch { /* a damaged header says nothing: fall back to the name */ }
  }
  if (byName?.version) {
    return { family: "OpenBeken", chip: byName.platform, version: byName.version, source: "name", fileName };
  }
  return { family: "unknown", chip: null, version: null, source: "none", fileName };
}

/** "OpenBeken 1.18.299 (BK7231N)"; an unknown image by its file name. */
export function firmwareLabel(id: FirmwareIdentity): string {
  if (id.family === "OpenBeken" && id.version) return `OpenBeken ${id.version}${id.chip ? ` (${id.chip})` : ""}`;
  return id.fileName ? `unknown image ${id.fileName}` : "unknown image";
}
