/**
 * Every byte/text decoder in shared/, as a fuzz target: seeds (valid inputs built
 * with the encoders or taken from the seed vectors) and a `run` that feeds one
 * input through the decoder. A run may succeed or throw CodecError; anything
 * else is a crash. Used by fuzz_worker.ts (one worker per target, so a hang is caught).
 */
import { CodecError } from "../../shared/errors.ts";
import { expect as bkExpect, parse as bkParse, scanResponse } from "../../shared/bk7231/responses.ts";
import { decodeDatapoints, encodeDatapoints, fromHex } from "../../shared/tuyamcu/dp.ts";
import { decodeTuyaFrame, TuyaFrameParser } from "../../shared/tuyamcu/frame.ts";
import { parseProductInfo } from "../../shared/tuyamcu/messages.ts";
import { decodeRawPower } from "../../shared/tuyamcu/raw_power.ts";
import {
  bl0942Checksum,
  Bl0942Parser,
  bl6552,
  cse7766Checksum,
  Cse7766Parser,
  decodeBl0942Packet,
  decodeCse7766Packet,
  decodeRegisterResponse,
  ht7017,
  invertedSum,
  parseRegisterCapture,
  rn8209,
} from "../../shared/meterchips/mod.ts";
import type { RegisterChip } from "../../shared/meterchips/register.ts";
import { Bl0940Parser, decodeBl0940Packet } from "../../shared/meterchips/bl0940.ts";
import {
  decodeTelemetryAck,
  decodeTelemetryBatch,
  encodeTelemetryAck,
  encodeTelemetryBatch,
} from "../../shared/telemetry.ts";
import { parseBuild, parseDiscovery, parseObkMessage } from "../../shared/openbeken/mqtt.ts";
import { classifyArtefact, parseRblHeader, verifyRbl } from "../../shared/rbl.ts";
import { buildObkConfig, parseObkConfig } from "../../shared/obk-config.ts";
import { buildFakeRbl } from "../../edge-agent/sim/obk-image.ts";
import { seedFrames, spmValueFrames } from "../drivers/seed_vectors.ts";
import { inspectBackup, obkProposal, parseUserParamKey } from "../../shared/tuya-config/mod.ts";
import { encodeStore } from "../tuya-config/encoder.ts";
import { bl0937Plug, tuyaMcuMeter9600, zmai90 } from "../tuya-config/devices.ts";

export interface Target {
  name: string;
  seeds: Uint8Array[];
  run(input: Uint8Array): void;
  /** max input length for purely random inputs */
  maxLen?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function bl0942Packet(i: number, v: number, p: number): Uint8Array {
  const b = new Uint8Array(23);
  b[0] = 0x55;
  const le24 = (o: number, x: number) => b.set([x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff], o);
  le24(1, i), le24(4, v), le24(7, i), le24(10, p & 0xffffff), le24(13, 7);
  b[16] = 0x20, b[17] = 0x4e;
  b[22] = bl0942Checksum(b);
  return b;
}

function cse7766Packet(): Uint8Array {
  const b = new Uint8Array(24);
  b.set([
    0x55,
    0x5a,
    0x02,
    0xe8,
    0x00,
    0x00,
    0x00,
    0x70,
    0xd0,
    0x00,
    0x00,
    0x00,
    0x62,
    0xd0,
    0x00,
    0x0b,
    0x55,
    0x1a,
    0x71,
    0x00,
    0x01,
    0x00,
    0x00,
  ]);
  b[23] = cse7766Checksum(b);
  return b;
}

/** Two shapes: [register index, response…] for the response decoder, and request+response for the capture walk. */
function registerSeeds(c: RegisterChip): Uint8Array[] {
  const out: Uint8Array[] = [];
  const regs = Object.keys(c.registers).map(Number);
  for (const [idx, reg] of regs.slice(0, 6).entries()) {
    const n = c.registers[reg].size;
    const data = new Uint8Array(n).map((_, i) => (i * 37 + reg) & 0xff);
    const resp = Uint8Array.from([...data, invertedSum(c.readRequest(reg), data)]);
    out.push(Uint8Array.from([idx, ...resp]));
    out.push(Uint8Array.from([...c.readRequest(reg), ...resp]));
  }
  return out;
}

function registerTarget(c: RegisterChip): Target {
  const regs = Object.keys(c.registers).map(Number);
  return {
    name: `meterchips/${c.chip} register responses + capture walk`,
    seeds: registerSeeds(c),
    run(input) {
      // a response for every register the chip knows, then the whole input as a capture
      const reg = regs[input[0] % regs.length] ?? 0;
      okOrCodec(() => decodeRegisterResponse(c, reg, input.subarray(1)));
      for (const ev of parseRegisterCapture(c, input)) {
        if (ev.kind === "read") tally.accepted++;
        if (ev.kind === "error") {
          tally.codes[`capture:${ev.error.code}`] = (tally.codes[`capture:${ev.error.code}`] ?? 0) + 1;
        }
      }
    },
  };
}

const bkFrames = (() => {
  // short: 04 0E LEN 01 E0 FC code payload ; long: 04 0E FF 01 E0 FC F4 LEN(u16 LE) code status payload
  const short = (code: number, payload: number[]) =>
    Uint8Array.from([0x04, 0x0e, 4 + payload.length, 0x01, 0xe0, 0xfc, code, ...payload]);
  const long = (code: number, payload: number[]) => {
    const len = 2 + payload.length;
    return Uint8Array.from([0x04, 0x0e, 0xff, 0x01, 0xe0, 0xfc, 0xf4, len & 0xff, len >> 8, code, 0, ...payload]);
  };
  return [
    short(0x01, [0]),
    short(bkExpect.readReg.code, [0, 0, 0x80, 0, 1, 2, 3, 4]),
    short(bkExpect.checkCrc.code, [1, 2, 3, 4]),
    short(bkExpect.setBaudRate.code, [0x00, 0x10, 0x0e, 0x00, 20]),
    long(bkExpect.flashGetMID.code, [0, 0x0b, 0x40, 0x15]),
    long(bkExpect.flashRead4K.code, [0, 0x10, 0, 0, ...new Array(4096).fill(0xa5)]),
    long(bkExpect.flashErase4K.code, [0, 0x10, 0, 0]),
  ];
})();

const telemetrySeed = encodeTelemetryBatch({
  v: 1,
  agentId: "bench-fuzz",
  seq: 42,
  readings: [
    {
      deviceId: "sim-01",
      ts: 1_763_700_000_000,
      voltage: 230.1,
      current: 0.26,
      power: 60,
      energyWh: 63.888,
      frequency: 50,
      powerFactor: 0.98,
    },
    {
      deviceId: "sim-02",
      ts: 1_763_700_000_100,
      voltage: 231,
      current: 3,
      power: 2000,
      energyWh: 12,
      phases: [{ voltage: 231, current: 1, power: 600 }, { voltage: 230, current: 1, power: 700 }, {
        voltage: 229,
        current: 1,
        power: 700,
      }],
    },
  ],
});

const obkSeeds = [
  ["obk8C112233/voltage/get", "230.0"],
  ["obk8C112233/power/get", "60.00"],
  ["obk8C112233/138/get", "50.00"],
  ["obk8C112233/energycounter/get", "63.888"],
  ["obk8C112233/connected", "online"],
  ["obk8C112233/build", "OpenBK7231N 1.18.299 Jul  4 2026 10:41:55"],
  ["obk8C112233/uptime", "653"],
  ["obk8C112233/mac", "c8:47:8c:11:22:33"],
  ["obk8C112233/1/get", "1"],
  [
    "homeassistant/sensor/OpenBK7231N_8C112233_sensor_2/config",
    '{"dev":{"ids":["OpenBK7231N_8C112233"],"name":"obk8C112233","sw":"1.18.299","mf":"Beken Corporation","mdl":"BK7231N","cu":"http://192.168.1.50/index"},"name":"Power","~":"obk8C112233","avty_t":"~/connected","uniq_id":"OpenBK7231N_8C112233_sensor_2","qos":1,"dev_cla":"power","stat_t":"~/power/get","stat_cla":"measurement","unit_of_meas":"W"}',
  ],
].map(([t, p]) => enc.encode(`${t}\n${p}`));

/** Outcomes of the decoder calls inside `run` (a run may call several decoders). */
export const tally = { accepted: 0, rejected: 0, codes: {} as Record<string, number> };

const okOrCodec = (fn: () => unknown) => {
  try {
    fn();
    tally.accepted++;
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    tally.rejected++;
    tally.codes[e.code] = (tally.codes[e.code] ?? 0) + 1;
  }
};

export const TARGETS: Target[] = [
  {
    name: "bk7231/bootloader responses (scan + parse, every expected frame)",
    seeds: bkFrames,
    maxLen: 5000,
    run(input) {
      const names = Object.keys(bkExpect) as (keyof typeof bkExpect)[];
      for (const name of names) {
        const r = scanResponse(input, bkExpect[name]);
        if (!r.found) continue;
        tally.codes["scan:found"] = (tally.codes["scan:found"] ?? 0) + 1;
        const p = bkParse as unknown as Record<string, (f: unknown, ...a: number[]) => unknown>;
        if (p[name]) okOrCodec(() => p[name](r.frame, 0x11000, 0x1000, 0));
      }
    },
  },
  {
    name: "tuyamcu/frames (single decode + resynchronising stream parser)",
    seeds: [...Object.values(seedFrames), ...Object.values(spmValueFrames)].map(fromHex),
    run(input) {
      okOrCodec(() => decodeTuyaFrame(input));
      const p = new TuyaFrameParser();
      const cut = input.length ? input[0] % (input.length + 1) : 0;
      for (const ev of [...p.push(input.subarray(0, cut)), ...p.push(input.subarray(cut))]) {
        if (ev.kind === "frame") tally.codes["stream:frame"] = (tally.codes["stream:frame"] ?? 0) + 1;
      }
    },
  },
  {
    name: "tuyamcu/datapoints, raw power, product info",
    seeds: [
      encodeDatapoints([{ id: 1, type: "value", value: 1234 }, { id: 16, type: "bool", value: true }] as never),
      fromHex("0600000A097400006400001B00"),
      fromHex("0600000808DE000000000000"),
      enc.encode('{"p":"abcdefgh","v":"1.0.0","m":0}'),
    ],
    run(input) {
      okOrCodec(() => decodeDatapoints(input));
      for (const f of [undefined, "V2C3P3", "VCP6", "VCPPfF", "DDS238"] as const) {
        okOrCodec(() => decodeRawPower(input, f));
      }
      okOrCodec(() => parseProductInfo(input));
    },
  },
  {
    name: "meterchips/BL0942 packets (decode + stream parser)",
    seeds: [bl0942Packet(65314, 3493240, 35880), bl0942Packet(1, 1, -598)],
    run(input) {
      okOrCodec(() => decodeBl0942Packet(input));
      new Bl0942Parser().push(input);
    },
  },
  {
    name: "meterchips/CSE7766 packets (decode + stream parser)",
    seeds: [cse7766Packet()],
    run(input) {
      okOrCodec(() => decodeCse7766Packet(input));
      new Cse7766Parser().push(input);
    },
  },
  {
    name: "meterchips/BL0940 packets (decode + stream parser)",
    seeds: [
      // captured from a BL0940 (Tasmota xnrg_14_bl09xx.ino), one of them with a negative WATT
      fromHex("55B855002F7300D2020000C674F90100978900370100AB00002D0000020200FE03006E"),
      fromHex("55880200490000FE0200AFEF71D20100EBFFFF490100000000020000CF0100FE03009F"),
    ],
    run(input) {
      okOrCodec(() => decodeBl0940Packet(input));
      const p = new Bl0940Parser();
      p.push(input);
      p.flush();
    },
  },
  registerTarget(rn8209),
  registerTarget(ht7017),
  registerTarget(bl6552),
  {
    name: "telemetry CBOR (batch + ack)",
    seeds: [telemetrySeed, encodeTelemetryAck({ v: 1, seq: 7, status: "committed" })],
    run(input) {
      okOrCodec(() => decodeTelemetryBatch(input));
      okOrCodec(() => decodeTelemetryAck(input));
    },
  },
  {
    name: "openbeken/MQTT payloads (topic\\npayload, build strings, HA discovery)",
    seeds: obkSeeds,
    run(input) {
      const text = dec.decode(input);
      const nl = text.indexOf("\n");
      const topic = nl < 0 ? text : text.slice(0, nl);
      const payload = nl < 0 ? "" : text.slice(nl + 1);
      okOrCodec(() => parseObkMessage(topic, payload));
      okOrCodec(() => parseObkMessage(topic, input));
      okOrCodec(() => parseBuild(payload));
      okOrCodec(() => parseDiscovery("sensor", "OpenBK7231N_8C112233_sensor_2", payload));
    },
  },
  {
    name: "rbl/OTA package headers (parse, verify, classify)",
    seeds: [
      buildFakeRbl({ chip: "BK7231N", version: "1.18.299", size: 512 }),
      buildFakeRbl({ chip: "BK7231T", version: "1.17.800", size: 300 }),
    ],
    maxLen: 2000,
    run(input) {
      okOrCodec(() => parseRblHeader(input));
      okOrCodec(() => verifyRbl(input));
      okOrCodec(() => classifyArtefact("OpenBK7231N_1.18.299.rbl", input));
    },
  },
  {
    name: "tuya-config/stock Tuya store (store-only dumps) and user_param_key",
    seeds: [
      encodeStore({ entries: bl0937Plug }).bytes,
      encodeStore({ entries: tuyaMcuMeter9600, scatter: true, magic: "new" }).bytes,
      enc.encode(String(zmai90[0].value)),
    ],
    maxLen: 0x13000,
    run(input) {
      okOrCodec(() => {
        const r = inspectBackup(input);
        if (r.found) obkProposal(r);
      });
      okOrCodec(() => parseUserParamKey(dec.decode(input.subarray(0, 4000))));
    },
  },
  {
    name: "obk-config/OpenBeken config sector",
    seeds: [
      buildObkConfig(
        {
          chip: "BK7231N",
          mac: "c8:47:8c:11:22:33",
          wifiSsid: "house",
          wifiPassword: "pw",
          mqttHost: "10.0.0.2",
        } as never,
      ),
    ],
    maxLen: 5000,
    run(input) {
      okOrCodec(() => parseObkConfig(input));
    },
  },
];
