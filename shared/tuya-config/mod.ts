/** Reading Tuya's stock configuration out of a BK7231 backup. */
export * from "./inspect.ts";
export { readTuyaStore, type StoreEntry, type TuyaStore } from "./store.ts";
export { parseUserParamKey, type UpkValue } from "./upk.ts";
export type { PinFunction } from "./pins.ts";
export { type ObkProposal, obkProposal } from "./template.ts";
export { type SchemaGuess, schemaQuantity } from "./schema_quantity.ts";
export { findOutliers, fingerprintOf, type Outlier, schemaHash, type StockFingerprint } from "./outliers.ts";
