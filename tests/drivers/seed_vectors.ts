/**
 * Real frames quoted in ../shared/seeds/ and reference/openbeken.md, with what
 * the threads say they mean. Shared by the codec tests and the decode CLI test.
 */
export const seedFrames = {
  // 001 DIN-rail meter, RX line: dp105 bool toggled by the button
  dinButtonOn: "55AA0307000569010001017A",
  dinButtonOff: "55AA03070005690100010079",
  // 001 DIN-rail meter: MCU heartbeat answer and relay dp16 off
  dinHeartbeatReply: "55AA030000010104",
  dinRelayOff: "55AA03070005100100010020",
  // 001 DIN-rail meter: dp6 raw 10 bytes, 09BA = 249.0 V at no load
  dinVcpNoLoad: "55AA0307000E0600000A09BA000000000000000EF8",
  // 001 DIN-rail meter with a ~20 W soldering iron: 242.0 V, 0.100 A
  dinVcpIron: "55AA0307000E0600000A097400006400001B000023",
  // 003 SMR1/ZMB9 breaker, tuyaMcu_sendQueryState answers
  smrSwitchOff: "55AA03070005100100010020",
  smrEnergyZero: "55AA03070008010200040000000018",
  smrFaultNone: "55AA0307000509050001001D",
  smrPhaseA: "55AA0307000C0600000808DE00000000000009",
  smrAlarmSet2: "55AA030700101200000C0101001003010113040100AF15",
  smrBreakerId: "55AA030700121303000E455455312D494F542D5749464900D3",
  // 004 SPM02 v2 (BL6552 behind a TuyaMCU)
  spmHeartbeat: "55AA030000010104",
  spmPhaseB: "55AA0307000C07000008090C0000D100001B25",
  spmPhaseC: "55AA0307000C08000008090E0001970000360A",
  spmFrequency: "55AA03070008200200040000138AD4",
  spmTotalPower: "55AA030700081D0200040000005C90",
  spmPowerFactor: "55AA03070008320200040000003B84",
  spmFault: "55AA0307000509050001001D",
} as const;

/** dp 102..110 values from the SPM02 log (#3): the MCU's real ids. */
export const spmValueDps: Record<number, number> = {
  102: 2317, 103: 98, 104: 13, 105: 2316, 106: 209, 107: 27, 108: 2318, 109: 407, 110: 54,
};

export const spmValueFrames: Record<number, string> = {
  102: "55AA03070008660200040000090D93",
  103: "55AA030700086702000400000062E0",
  104: "55AA03070008680200040000000D8C",
  105: "55AA03070008690200040000090C95",
  106: "55AA030700086A020004000000D152",
  107: "55AA030700086B0200040000001B9D",
  108: "55AA030700086C0200040000090E9A",
  109: "55AA030700086D020004000001971C",
  110: "55AA030700086E02000400000036BB",
};

/** Module→MCU frames from the DIN-rail TX capture (001 #4) and the reference §4.2/§4.5. */
export const moduleFrames = {
  heartbeat: "55AA00000000FF",
  productInfo: "55AA0001000000",
  workingMode: "55AA0002000001",
  wifi2: "55AA000300010205",
  wifi3: "55AA000300010306",
  wifi4: "55AA000300010407",
  queryState: "55AA0008000007",
  setDp1On: "55AA0006000501010001010E",
  setDp1Off: "55AA0006000501010001000D",
  setDp2Value500: "55AA0006000802020004000001F40A",
  setDp4Enum2: "55AA00060005040400010215",
  timeSync: "55AA001C000801180B14090D140388",
  syncAck: "55AA002300010124",
  rssiMinus54: "55AA00240001CAEE",
  netStatus4: "55AA002B0001042F",
  wifiResetAck: "55AA0004000003",
  signal80: "55AA000B000201505D",
  recordAck: "55AA00340002040039",
} as const;

/** The whole DIN-rail TX capture at power-on (001 #4), one string as pasted. */
export const dinTxPowerOn =
  "55AA00000000FF55AA000100000055AA000200000155AA00030001020555AA00000000FF55AA000800000755AA00030001030655AA00030001040755AA00000000FF55AA00000000FF";

/** Reference §4.5: meter state with DP1 value 12345, DP6 raw VCP, DP16 bool 1. */
export const refMeterState = "55AA03070019010200040000303906000008091600009900002310010001018E";
/** Reference §4.5: V2C3P3 = 230.1 V, 1234 mA, 283 (W per OBK). */
export const refV2C3P3 = "55AA0307000C0600000808FD0004D200011B1A";
/** Reference §4.3 self-test: DP declares 4 bytes but the frame holds 6 data bytes → truncated DP. */
export const refTruncatedDp = "55AA030700060102000400172D";
/** RN8209 driver notes (§5.7): send 24, receive 20 33 E1 A7 → 239.55 V at the default 8810. */
export const rn8209Voltage = "242033E1A7";
