/**
 * RN8209 / RN8209C over UART (reference/openbeken.md §5.7): read = send the register
 * address (bit 7 clear), receive N data bytes MSB first plus ~(addr + sum(data));
 * write = addr|0x80, data, ~(sum). 4800 baud; the datasheet says even parity.
 */
import type { RegisterChip } from "./register.ts";
import { invertedSum } from "./register.ts";

export const RN8209_DEFAULTS = { voltage: 8810, current: 57, power: 71572720 };

export const RN8209_REG = {
  IARMS: 0x22,
  IBRMS: 0x23,
  URMS: 0x24,
  UFreq: 0x25,
  PowerPA: 0x26,
  PowerPB: 0x27,
  PowerQ: 0x28,
  EnergyP: 0x29,
  EnergyP2: 0x2a,
  /** write-enable: write 0xE5 to 0xEA before writing registers */
  CMD: 0xea,
} as const;

export const rn8209: RegisterChip = {
  chip: "RN8209C",
  readRequest: (reg) => Uint8Array.of(reg & 0x7f),
  writeFrame(reg, value) {
    const size = rn8209.registers[reg]?.size ?? 2;
    const data: number[] = [];
    for (let i = size - 1; i >= 0; i--) data.push(Math.floor(value / 256 ** i) & 0xff);
    const head = [(reg & 0x7f) | 0x80];
    return Uint8Array.from([...head, ...data, invertedSum(head, data)]);
  },
  byteOrder: "msb",
  defaultSize: 2,
  // every byte can be an address, so only known registers count as requests
  captureRequest: (
    b,
    i,
  ) => (rn8209.registers[b[i] & 0x7f] ? { reg: b[i] & 0x7f, write: (b[i] & 0x80) !== 0, reqLen: 1 } : null),
  registers: {
    0x22: { name: "IARMS", size: 3 },
    0x23: { name: "IBRMS", size: 3 },
    0x24: { name: "URMS", size: 3 },
    0x25: { name: "UFreq", size: 2 },
    0x26: { name: "PowerPA", size: 4, signed: true },
    0x27: { name: "PowerPB", size: 4, signed: true },
    0x28: { name: "PowerQ", size: 4, signed: true },
    0x29: { name: "EnergyP", size: 3 },
    0x2a: { name: "EnergyP2", size: 3 },
    0x7f: { name: "DeviceID", size: 3 },
    0xea: { name: "CMD", size: 1 },
  },
};

/** Current IA with bit 23 set is noise around zero (OBK treats it as 0). */
export const rn8209Current = (raw: number) => (raw & 0x800000 ? 0 : raw);
