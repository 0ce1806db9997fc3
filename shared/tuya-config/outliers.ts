/**
 * Batch outlier check: units of one batch that should be the same product are grouped by
 * product key, then compared on Wi-Fi firmware, MCU firmware, module and datapoint schema.
 * The unit whose stock config differs from the rest (a silent hardware revision, e.g. an
 * RN8209C board among HT7017 ones, or an MCU that speaks another schema) is named with what
 * differs, before it is erased. Pure; the server and the bench agent both use it.
 */
import type { BackupInspection } from "./inspect.ts";

export interface StockFingerprint {
  productKey: string | null;
  module: string | null;
  wifi: string | null;
  mcu: string | null;
  /** Short hash of the schema's dp ids, types, modes, scales and ranges; null when none stored. */
  schema: string | null;
}

export function fingerprintOf(r: BackupInspection): StockFingerprint {
  return {
    productKey: r.productKey ?? null,
    module: r.module ?? null,
    wifi: r.versions.wifi ?? null,
    mcu: r.versions.mcu ?? null,
    schema: r.schema.length ? schemaHash(r) : null,
  };
}

/** FNV-1a over a canonical text of the schema: equal schemas, equal hashes. */
export function schemaHash(r: Pick<BackupInspection, "schema">): string {
  const text = r.schema.map((d) =>
    [d.id, d.type, d.mode, d.scale ?? "", d.min ?? "", d.max ?? "", d.unit ?? "", (d.range ?? []).join("|")].join(":")
  ).join(";");
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

export interface Outlier {
  id: string;
  /** e.g. "MCU firmware 1.0.3 (the other 4: 1.0.7)" */
  differs: string[];
}

const LABEL: Record<keyof StockFingerprint, string> = {
  productKey: "product key",
  module: "module",
  wifi: "Wi-Fi firmware",
  mcu: "MCU firmware",
  schema: "datapoint schema",
};

/**
 * Units that differ from the rest of their batch. The product key is compared across the
 * whole batch; the other fields within the units sharing the batch's usual product key.
 * A field is judged only where a clear majority exists (ties name nobody: with two units
 * that disagree nobody can say which one is odd, so both are listed as a split).
 */
export function findOutliers(items: { id: string; fp: StockFingerprint }[]): { outliers: Outlier[]; splits: string[] } {
  const outliers = new Map<string, string[]>();
  const splits: string[] = [];
  const flag = (id: string, why: string) => outliers.set(id, [...(outliers.get(id) ?? []), why]);
  const judge = (group: { id: string; fp: StockFingerprint }[], field: keyof StockFingerprint) => {
    const counts = new Map<string, number>();
    for (const it of group) {
      const v = it.fp[field] ?? "(none)";
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    if (counts.size < 2) return null;
    const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    if (sorted[0][1] === sorted[1][1]) {
      splits.push(`${LABEL[field]}: ${sorted.map(([v, n]) => `${v} ×${n}`).join(", ")}`);
      return null;
    }
    const [usual] = sorted[0];
    for (const it of group) {
      const v = it.fp[field] ?? "(none)";
      if (v !== usual) flag(it.id, `${LABEL[field]} ${v} (the other ${sorted[0][1]}: ${usual})`);
    }
    return usual;
  };
  const usualPk = judge(items, "productKey");
  const peers = usualPk === null ? items : items.filter((it) => (it.fp.productKey ?? "(none)") === usualPk);
  for (const f of ["module", "wifi", "mcu", "schema"] as const) judge(peers, f);
  return { outliers: [...outliers].map(([id, differs]) => ({ id, differs })), splits };
}
