/**
 * Module→MCU messages OpenBeken sends (reference/openbeken.md §4.2), so the
 * agent's driver speaks exactly like the firmware a unit will run after flashing.
 * OBK always sends version 0x00.
 */
import { encodeTuyaFrame, TuyaCommand } from "./frame.ts";
import { type DpInput, encodeDatapoints } from "./dp.ts";

const frame = (command: number, data: number[] | Uint8Array = []) =>
  encodeTuyaFrame({ version: 0, command, data: data instanceof Uint8Array ? data : Uint8Array.from(data) });

/** Wi-Fi states the module reports; 4 = cloud connected, which makes most MCUs start reporting. */
export const WifiState = { smartconfig: 0, ap: 1, notConnected: 2, router: 3, cloud: 4, lowPower: 5 } as const;

export const tuyaMessages = {
  heartbeat: () => frame(TuyaCommand.heartbeat),
  productInfo: () => frame(TuyaCommand.productInfo),
  workingMode: () => frame(TuyaCommand.workingMode),
  wifiState: (state: number) => frame(TuyaCommand.wifiState, [state]),
  wifiResetAck: () => frame(TuyaCommand.wifiReset),
  queryState: () => frame(TuyaCommand.queryState),
  setDp: (dps: DpInput[]) => frame(TuyaCommand.setDp, encodeDatapoints(dps)),
  syncReportAck: () => frame(TuyaCommand.syncReportAck, [1]),
  signalStrength: (strength: number) => frame(TuyaCommand.signalStrength, [1, strength & 0xff]),
  rssi: (dbm: number) => frame(TuyaCommand.getRssi, [dbm & 0xff]),
  networkStatus: (state: number) => frame(TuyaCommand.networkStatus, [state]),
  recordStatusAck: () => frame(TuyaCommand.recordStatus, [0x04, 0x00]),
  /** 0x1C reply: 01, YY, MM, DD, hh, mm, ss, weekday (1 = Monday .. 7 = Sunday), local time */
  timeSync: (d: Date) =>
    frame(TuyaCommand.timeSync, [
      1,
      d.getFullYear() % 100,
      d.getMonth() + 1,
      d.getDate(),
      d.getHours(),
      d.getMinutes(),
      d.getSeconds(),
      d.getDay() === 0 ? 7 : d.getDay(),
    ]),
};

/** The product JSON the MCU answers to 0x01, e.g. `{"p":"pqcmqh1ufgmalru0","v":"1.0.2","m":2}`. */
export function parseProductInfo(data: Uint8Array): { p?: string; v?: string; m?: number; text: string } {
  const text = new TextDecoder().decode(data);
  try {
    const j = JSON.parse(text);
    return { ...j, text };
  } catch {
    return { text };
  }
}
