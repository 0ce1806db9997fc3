/**
 * The meter models from ../shared/seeds, as data. Each cites the thread its
 * facts come from; where a fact is an assumption the note says so.
 */
import type { DeviceProfileInput } from "./types.ts";

const lines = (...l: string[]) => l.join("\n") + "\n";

export const zmai90: DeviceProfileInput = {
  id: "zmai-90",
  model: "ZMAi-90 DIN-rail meter (CBU, RN8209C on the Wi-Fi UART)",
  module: "BK7231N",
  board: "CBU",
  transport: {
    kind: "chip",
    chip: "RN8209C",
    baud: 4800,
    parity: "even",
    pollMs: 250,
    // OBK's 57 / 71572720 defaults give nonsense (a 4-byte PowerPA cannot hold 60 W × 71572720);
    // the thread's log has C 2697 at ~0.051 A and P 81222 published as 8.24 W.
    factors: { voltage: 8810, current: 52882, power: 9857 },
  },
  gpio: { 6: "WifiLED_n", 7: "Btn", 14: "BridgeFWD", 16: "BridgeREV", 26: "LED" },
  channels: { 7: 1, 14: 1, 16: 1, 26: 2 },
  autoexec: lines(
    "startDriver RN8209",
    "startDriver NTP",
    "// calibrate with a 60 W bulb: VoltageSet, PowerSet, CurrentSet",
  ),
  sources: ["seeds/000 ZMAi-90 teardown #20840241 (GPIO), #20857064 (RN8209 + 60 W calibration)", "reference §5.7"],
  notes: [
    "The RN8209C shares TX1/RX1: desolder it to flash (#20838678).",
    "RN8209 is not in stock OBK builds; the agent polls it directly on the bench.",
  ],
};

export const dinRailTuya: DeviceProfileInput = {
  id: "din-rail-tuyamcu",
  model: "Tuya DIN-rail relay + energy meter (CB3S, TuyaMCU)",
  module: "BK7231N",
  board: "CB3S",
  transport: {
    kind: "tuyamcu",
    baud: 9600,
    queryMs: 5000,
    datapoints: [
      { dp: 6, type: "raw", quantity: "phase", decoder: "V2C3P3", powerUnitW: 1, label: "V/I/P (10-byte)" },
      {
        dp: 1,
        type: "value",
        quantity: "energyWh",
        scale: 10,
        label: "total kWh×100 (assumed, as on other Tuya meters)",
      },
      { dp: 16, type: "bool", quantity: "relay", label: "relay" },
      { dp: 105, type: "bool", quantity: "other", label: "front button" },
    ],
  },
  gpio: {},
  autoexec: lines(
    "startDriver TuyaMCU",
    "tuyaMcu_defWiFiState 4",
    "setChannelType 1 toggle",
    "linkTuyaMCUOutputToChannel 16 bool 1",
    "setChannelType 2 Voltage_div10",
    "setChannelType 3 Current_div1000",
    "setChannelType 4 Power",
    "linkTuyaMCUOutputToChannel 6 RAW_TAC2121C_VCP",
    "setChannelType 5 EnergyTotal_kWh_div100",
    "linkTuyaMCUOutputToChannel 1 val 5",
  ),
  sources: ["seeds/001 DIN-rail teardown #4-#6 (captures: dp6 raw 09BA..=249.0 V, dp16 relay, dp105 button)"],
  notes: ["dp6 power units of 1 W: a ~20 W iron read 0x1B = 27 at 0.1 A/242 V."],
};

export const smr1: DeviceProfileInput = {
  id: "smr1-zmb9",
  model: "AT-Q-SMR1 / ZMB9 motorised RCBO breaker (WB3S, TuyaMCU, HT7017)",
  module: "BK7231T",
  board: "WB3S",
  transport: {
    kind: "tuyamcu",
    chip: "HT7017",
    baud: 9600,
    queryMs: 5000,
    datapoints: [
      { dp: 1, type: "value", quantity: "energyWh", scale: 10, label: "total forward energy, kWh scale 2" },
      { dp: 3, type: "raw", quantity: "other", label: "month energy" },
      { dp: 4, type: "raw", quantity: "other", label: "daily energy" },
      { dp: 6, type: "raw", quantity: "phase", decoder: "V2C3P3", powerUnitW: 1, label: "phase A V/I/P" },
      { dp: 9, type: "bitmap", quantity: "other", label: "fault" },
      { dp: 11, type: "bool", quantity: "other", label: "switch prepayment" },
      { dp: 16, type: "bool", quantity: "relay", label: "switch" },
      { dp: 17, type: "raw", quantity: "other", label: "alarm set 1" },
      { dp: 18, type: "raw", quantity: "other", label: "alarm set 2" },
      { dp: 19, type: "string", quantity: "other", label: "breaker id" },
      { dp: 20, type: "string", quantity: "other", label: "IMEI/IMSI" },
      { dp: 101, type: "value", quantity: "other", label: "overload protection" },
    ],
  },
  gpio: {},
  autoexec: lines(
    "startDriver TuyaMCU",
    "tuyaMcu_defWiFiState 4",
    "startDriver NTP",
    "setChannelType 1 toggle",
    'setChannelLabel 1 "Relay"',
    "setChannelType 2 Voltage_div10",
    "setChannelType 3 Power",
    "setChannelType 4 Current_div1000",
    "setChannelType 5 EnergyTotal_kWh_div100",
    "setChannelType 7 toggle",
    'setChannelLabel 7 "Prepayment"',
    "linkTuyaMCUOutputToChannel 16 bool 1",
    "linkTuyaMCUOutputToChannel 1 val 5",
    "linkTuyaMCUOutputToChannel 6 RAW_TAC2121C_VCP",
    "linkTuyaMCUOutputToChannel 11 bool 7",
  ),
  sources: [
    "seeds/003 SMR1 thread #14 (dpIDs, autoexec), #18 (query-state frames), #30 (ESPHome log dp6 09.21.. = 233.7 V, dp1 594)",
  ],
  notes: [
    "Tuya config extraction says uart_baud 9600; an ESPHome log in #30 shows 115200 — try 115200 if 9600 is silent.",
  ],
};

const spmPhase = (phase: number, base: number) => [
  { dp: base, type: "value" as const, quantity: "voltage" as const, scale: 0.1, phase },
  { dp: base + 1, type: "value" as const, quantity: "current" as const, scale: 0.001, phase },
  { dp: base + 2, type: "value" as const, quantity: "power" as const, scale: 1, phase },
];

export const spm02: DeviceProfileInput = {
  id: "spm02-v2",
  model: "ZGMISMART SPM02 v2 3-phase meter (CB2S, TuyaMCU, BL6552)",
  module: "BK7231N",
  board: "CB2S",
  phases: 3,
  transport: {
    kind: "tuyamcu",
    chip: "BL6552",
    baud: 9600,
    queryMs: 5000,
    datapoints: [
      { dp: 1, type: "value", quantity: "energyWh", scale: 10, label: "forward energy kWh scale 2" },
      { dp: 23, type: "value", quantity: "exportEnergyWh", scale: 10, label: "reverse energy kWh scale 2" },
      { dp: 29, type: "value", quantity: "power", scale: 1, label: "total active power" },
      { dp: 32, type: "value", quantity: "frequency", scale: 0.01 },
      { dp: 50, type: "value", quantity: "powerFactor", scale: 0.01 },
      { dp: 6, type: "raw", quantity: "phase", decoder: "V2C3P3", powerUnitW: 1, phase: 0, label: "phase A" },
      { dp: 7, type: "raw", quantity: "phase", decoder: "V2C3P3", powerUnitW: 1, phase: 1, label: "phase B" },
      { dp: 8, type: "raw", quantity: "phase", decoder: "V2C3P3", powerUnitW: 1, phase: 2, label: "phase C" },
      ...spmPhase(0, 102),
      ...spmPhase(1, 105),
      ...spmPhase(2, 108),
      { dp: 9, type: "bitmap", quantity: "other", label: "alarm" },
      { dp: 19, type: "string", quantity: "other", label: "device id" },
    ],
  },
  gpio: {},
  autoexec: lines(
    "startDriver TuyaMCU",
    "tuyaMcu_defWiFiState 4",
    "setChannelType 1 EnergyTotal_kWh_div100",
    "linkTuyaMCUOutputToChannel 1 val 1",
    "setChannelType 2 EnergyTotal_kWh_div100",
    "linkTuyaMCUOutputToChannel 23 val 2",
    "setChannelType 3 Frequency_div100",
    "linkTuyaMCUOutputToChannel 32 val 3",
    "setChannelType 5 Power",
    "linkTuyaMCUOutputToChannel 29 val 5",
    "setChannelType 6 PowerFactor_div100",
    "linkTuyaMCUOutputToChannel 50 val 6",
    ...[0, 1, 2].flatMap((p) => [
      `setChannelType ${7 + p} Voltage_div10`,
      `linkTuyaMCUOutputToChannel ${102 + 3 * p} val ${7 + p}`,
      `setChannelType ${10 + p} Current_div1000`,
      `linkTuyaMCUOutputToChannel ${103 + 3 * p} val ${10 + p}`,
      `setChannelType ${13 + p} Power`,
      `linkTuyaMCUOutputToChannel ${104 + 3 * p} val ${13 + p}`,
    ]),
  ),
  sources: [
    "seeds/004 SPM02 v2 #3 (log: dp7/dp8 raw frames and dp102-110), #7 (real dpID list)",
    "seeds/004 #1 Tuya model JSON (ids 103-128 there do not match the MCU)",
  ],
  notes: [
    "The model JSON's dpIDs (103 = voltage X, 104 = current X, ...) disagree with the MCU (102 = voltage X, ...): the #1 autoexec shows L1 Voltage 9.80 V from dp103 = 98 mA.",
    "Phase power units: the model JSON says 0.0001 kW, but phases 13+27+54 match dp29 = 92 W and PF 0.59 × VA only as whole watts.",
  ],
};

export const pziotE01: DeviceProfileInput = {
  id: "pziot-e01",
  model: "PZIOT-E01 pass-through DIN-rail meter (CBU, BL0942)",
  module: "BK7231N",
  board: "CBU",
  transport: { kind: "chip", chip: "BL0942", baud: 4800, parity: "none", pollMs: 800 },
  gpio: { 20: "Btn", 22: "LED" },
  channels: { 20: 1, 22: 1 },
  autoexec: lines("startDriver BL0942", "startDriver NTP"),
  sources: ["seeds/002 PZIOT-E01 teardown #1 (pinout), reference §5.3"],
  notes: ["Stock wiring is SPI (P14 SCLK, P16 SDI, P17 SDO): UART needs the trace mod from the thread, or BL0942SPI."],
};

export const cse7766Plug: DeviceProfileInput = {
  id: "cse7766-plug",
  model: "Generic BK7231N plug with CSE7766 (receive-only UART)",
  module: "BK7231N",
  // OBK's default current factor (251210) is copied from BL0942 and wrong here (reference §5.6)
  transport: {
    kind: "chip",
    chip: "CSE7766",
    baud: 4800,
    parity: "even",
    pollMs: 1000,
    factors: { voltage: 1.94034719, current: 1, power: 1.88214409 },
  },
  gpio: { 8: "WifiLED_n", 24: "Rel", 26: "Btn" },
  channels: { 24: 1, 26: 1 },
  autoexec: lines(
    "startDriver CSE7766",
    "// OBK's default CurrentSet factor is wrong for CSE7766: calibrate all three",
  ),
  sources: ["reference §5.6"],
  notes: [
    "GPIO pins differ between plug makers: confirm with the GPIO doctor before flashing.",
    "OBK drops F2 5A (no load) packets; the agent decodes them as 0 W.",
  ],
};

export const builtinProfiles: DeviceProfileInput[] = [zmai90, dinRailTuya, smr1, spm02, pziotE01, cse7766Plug];
