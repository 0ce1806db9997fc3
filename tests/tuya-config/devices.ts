/**
 * Stock backups of the seed devices, written with the test encoder onto the BK7231
 * simulator's stock-like image (bootloader fingerprint + MAC sector). The configurations
 * follow the seed threads (../shared/seeds) and the key names real stock firmware uses.
 */
import { generateStockImage } from "../../edge-agent/sim/bk7231.ts";
import type { ChipKind } from "../../shared/bk7231/mod.ts";
import { type EncEntry, encodeStore, type EncStoreSpec, gwDi, schemaJson, upk } from "./encoder.ts";

/** Flash offset of the store's key sector on BK7231N/T stock firmware. */
export const STORE_AT = 0x1ee000;

export function dumpWith(chip: ChipKind, mac: string, spec: EncStoreSpec | null): Uint8Array {
  const image = generateStockImage(chip, mac);
  if (spec) image.set(encodeStore(spec).bytes, STORE_AT);
  return image;
}

const wsm = (ssid: string | null) =>
  JSON.stringify({ nc_tp: 2, ssid, passwd: ssid ? "hunter2-not-for-you" : null, md: 0, random: 0 });

/** A BL0937 plug (CB2S), like the LSPA9 / PC44HA plugs. */
export const bl0937Plug: EncEntry[] = [
  {
    name: "user_param_key",
    value: upk({
      jv: "1.0.5",
      module: "CB2S",
      rl1_pin: 26,
      rl1_lv: 1,
      bt1_pin: 10,
      bt1_lv: 0,
      netled1_pin: 8,
      netled1_lv: 0,
      ele_pin: 7,
      vi_pin: 6,
      sel_pin_pin: 24,
      sel_pin_lv: 1,
      ch_num: 1,
      ch_dpid1: 1,
      over_cur: 17000,
      crc: 35,
    }),
  },
  { name: "gw_di", value: gwDi({ pk: "keyjup78v54myhan", swv: "1.1.12", schemaId: "000004w0oh" }) },
  {
    name: "000004w0oh",
    value: schemaJson([
      { id: 1, mode: "rw", type: "bool" },
      { id: 9, mode: "rw", type: "value", max: 86400 },
      { id: 17, mode: "ro", type: "value", scale: 3, max: 50000, unit: "kW·h" },
      { id: 18, mode: "ro", type: "value", scale: 0, max: 30000, unit: "mA" },
      { id: 19, mode: "ro", type: "value", scale: 1, max: 80000, unit: "W" },
      { id: 20, mode: "ro", type: "value", scale: 1, max: 5000, unit: "V" },
    ]),
  },
  { name: "gw_wsm", value: wsm("house-net") },
];

/** A TuyaMCU single-phase DIN-rail meter at 9600 (seed 001): baud_cfg, MCU product key. */
export const tuyaMcuMeter9600: EncEntry[] = [
  { name: "baud_cfg", value: JSON.stringify({ baud: 9600 }) },
  {
    name: "gw_di",
    value: gwDi({
      pk: "mcu9600meterpk01",
      firmk: "keyrandomfirmk01",
      swv: "1.3.5",
      devSwv: "1.0.2",
      schemaId: "00000din01",
      dtp: 9,
    }),
  },
  {
    name: "00000din01",
    value: schemaJson([
      { id: 1, mode: "ro", type: "value", scale: 2, max: 99999999, unit: "kW·h" },
      { id: 6, mode: "ro", type: "raw" },
      { id: 16, mode: "rw", type: "bool" },
      { id: 18, mode: "ro", type: "value", scale: 3, max: 80000, unit: "A" },
      { id: 19, mode: "ro", type: "value", scale: 1, max: 200000, unit: "W" },
      { id: 20, mode: "ro", type: "value", scale: 1, max: 30000, unit: "V" },
    ]),
  },
  { name: "gw_wsm", value: wsm(null) },
];

/** A TuyaMCU breaker at 115200 (seed 003's SMR1 as ESPHome saw it), with a stale second schema. */
export const tuyaMcuBreaker115200: EncEntry[] = [
  { name: "baud_cfg", value: JSON.stringify({ baud: 115200 }) },
  {
    name: "gw_di",
    value: gwDi({
      pk: "smr1breakerpk001",
      firmk: "keysmr1firmk0001",
      swv: "1.0.9",
      devSwv: "2.1.0",
      schemaId: "0000smr1b2",
    }),
  },
  {
    name: "0000smr1a1",
    value: schemaJson([{ id: 16, mode: "rw", type: "bool" }, { id: 1, mode: "ro", type: "value", scale: 0, max: 9 }]),
  },
  {
    name: "0000smr1b2",
    value: schemaJson([
      { id: 1, mode: "ro", type: "value", scale: 2, max: 99999999 },
      { id: 6, mode: "ro", type: "raw" },
      { id: 9, mode: "ro", type: "bitmap" },
      { id: 11, mode: "rw", type: "bool" },
      { id: 16, mode: "rw", type: "bool" },
      { id: 101, mode: "rw", type: "value", scale: 0, max: 100 },
    ]),
  },
];

/** ZMAi-90 (seed 000): CBU, latching relay on P14/P16, RN8209C on UART1 at 4800 8E1. */
export const zmai90: EncEntry[] = [
  {
    name: "user_param_key",
    value: upk({
      Jsonver: "1.0.0",
      module: "CBU",
      netled_pin: 6,
      netled_lv: 0,
      bt_pin: 7,
      bt_lv: 0,
      rl_on1_pin: 14,
      rl_off1_pin: 16,
      led1_pin: 26,
      led1_lv: 1,
      uart_baud: 4800,
      uart_parity: 2,
      uart_databit: 3,
      uart_stopbits: 1,
      crc: 88,
    }),
  },
  { name: "gw_di", value: gwDi({ pk: "zmai90rn8209cpk1", swv: "1.0.4" }) },
];

/** SPM02 v2 (seed 004): TuyaMCU 3-phase; the schema says 103/104/105 are phase A V/I/P. */
export const spm02: EncEntry[] = [
  { name: "baud_cfg", value: JSON.stringify({ baud: 9600 }) },
  {
    name: "gw_di",
    value: gwDi({
      pk: "spm02v2meterpk01",
      firmk: "keyspm02firmk001",
      swv: "1.2.0",
      devSwv: "1.0.0",
      schemaId: "000spm02v2",
    }),
  },
  {
    name: "000spm02v2",
    value: schemaJson([
      { id: 1, mode: "ro", type: "value", scale: 2, max: 99999999, unit: "kWh" },
      { id: 23, mode: "ro", type: "value", scale: 2, max: 99999999, unit: "kWh" },
      { id: 29, mode: "ro", type: "value", scale: 0, max: 99999, unit: "W" },
      { id: 32, mode: "ro", type: "value", scale: 2, max: 7000, unit: "Hz" },
      { id: 103, mode: "ro", type: "value", scale: 1, max: 30000, unit: "V" },
      { id: 104, mode: "ro", type: "value", scale: 3, max: 99999, unit: "A" },
      { id: 105, mode: "ro", type: "value", scale: 0, max: 99999, unit: "W" },
    ]),
  },
];
