/** Reading Tuya's stock configuration out of a BK7231 backup. */
export * from "./inspect.ts";
export { readTuyaStore, type StoreEntry, type TuyaStore } from "./store.ts";
export { parseUserParamKey, type UpkValue } from "./upk.ts";
export type { PinFunction } from "./pins.ts";
