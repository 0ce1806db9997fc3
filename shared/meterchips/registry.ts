/**
 * Every UART metering chip the agent can read, as data: one entry per chip names its line
 * settings, how it is read (fixed packets or register transactions), the registers or packet
 * fields that give V/I/P, its calibration rule and default factors, OpenBeken's driver name,
 * and where its device-side simulator lives. The poller, the decode CLI, the profile schema,
 * calibration and `deno task sim` all read this table; adding a chip is a codec module next to
 * this file, one entry here, and a simulator in edge-agent/sim/ (see docs/architecture.md).
 *
 * Default factors are OpenBeken's PwrCal_Init defaults, cited per chip from OpenBK7231T_App
 * src/driver/; where OBK's defaults are known to be wrong the device profile overrides them.
 */
import type { CalKind, Triple } from "./calibration.ts";
import {
  BL0942_DEFAULTS,
  BL0942_INIT,
  BL0942_READ_ALL,
  type Bl0942Packet,
  Bl0942Parser,
  bl0942Values,
  bl0942WhPerCount,
  type ChipStreamEvent,
} from "./bl0942.ts";
import { CSE7766_DEFAULTS, type Cse7766Packet, Cse7766Parser, cse7766Raw } from "./cse7766.ts";
import { rn8209, RN8209_DEFAULTS, RN8209_REG, rn8209Current } from "./rn8209.ts";
import { ht7017, HT7017_DEFAULTS, HT7017_REG, ht7017Frequency } from "./ht7017.ts";
import { bl6552, BL6552_DEFAULTS, BL6552_PHASES, BL6552_REG } from "./bl6552.ts";
import {
  BL0940_DEFAULTS,
  BL0940_READ_ALL,
  type Bl0940Packet,
  Bl0940Parser,
  bl0940Values,
  bl0940WhPerCount,
} from "./bl0940.ts";
import type { RegisterChip } from "./register.ts";

/** One reading's worth of chip values, before calibration factors. */
export interface ChipSample {
  /** raw V, I, P (phase A on a 3-phase chip): what VoltageSet/CurrentSet/PowerSet calibrate */
  raw: Triple;
  /** raw V, I, P per phase, for 3-phase chips */
  phases?: Triple[];
  frequency?: number;
  /** the chip's energy pulse counter, when it has one (see `energyCounter`) */
  count?: number;
}

export interface PacketParser<P> {
  push(chunk: Uint8Array): ChipStreamEvent<P>[];
  flush(): ChipStreamEvent<P>[];
}

/** Chips that send whole packets: asked for one (`request`), or streaming on their own (`request: null`). */
export interface PacketProtocol<P> {
  kind: "packets";
  /** written once after the port opens */
  init: Uint8Array[];
  /** written every poll; null = the chip streams and the agent samples the latest packet every pollMs */
  request: Uint8Array | null;
  parser(): PacketParser<P>;
  sample(p: P): ChipSample;
  /** what the decode CLI prints next to the packet's fields */
  describe(p: P): unknown;
}

/** Chips read one register per request/response transaction. */
export interface RegisterProtocol {
  kind: "registers";
  chip: RegisterChip;
  /** registers read every poll, in this order */
  poll: number[];
  sample(values: Map<number, number>): ChipSample;
}

export interface ChipSpec<P = unknown> {
  /** the name device profiles and calibration records use */
  name: string;
  /** the name on the command line: `deno task decode <cli>`, `deno task sim <cli>` */
  cli: string;
  /** the chip's UART settings (a profile states its own; a test checks they agree); null = not known */
  line: { baud: number; parity: "none" | "even" | "odd" } | null;
  cal: CalKind;
  defaults: Triple;
  /** `startDriver <obkDriver>` on an OpenBeken unit; null when OBK has no driver for it */
  obkDriver: string | null;
  /** other names the same chip goes by (OBK's driver name, older calibration records) */
  aliases?: string[];
  protocol: PacketProtocol<P> | RegisterProtocol;
  /** a counter of energy pulses: its width and Wh per count at the current power factor */
  energyCounter?: { modulo: number; whPerCount(powerFactor: number): number };
  /** device side, written from the datasheet and independent of the codec: `edge-agent/sim/<module>` exporting `run` */
  sim: { module: string; run: string };
}

/** Keeps each entry's packet type checked while the table holds them side by side. */
const chip = <P>(spec: ChipSpec<P>) => spec as ChipSpec<unknown>;

const bl0942 = chip<Bl0942Packet>({
  name: "BL0942",
  cli: "bl0942",
  line: { baud: 4800, parity: "none" },
  cal: "divide",
  // src/driver/drv_bl0942.c DEFAULT_VOLTAGE_CAL / DEFAULT_CURRENT_CAL / DEFAULT_POWER_CAL, PWR_CAL_DIVIDE
  defaults: BL0942_DEFAULTS,
  obkDriver: "BL0942",
  protocol: {
    kind: "packets",
    init: BL0942_INIT,
    request: BL0942_READ_ALL,
    parser: () => new Bl0942Parser(),
    sample: (p) => ({
      raw: { voltage: p.voltageRaw, current: p.currentRaw, power: p.powerRaw },
      frequency: p.freqRaw ? 1_000_000 / p.freqRaw : undefined,
      count: p.cfCount,
    }),
    describe: (p) => bl0942Values(p),
  },
  energyCounter: { modulo: 0x1000000, whPerCount: bl0942WhPerCount },
  sim: { module: "bl0942.ts", run: "runSimCli" },
});

const cse7766 = chip<Cse7766Packet>({
  name: "CSE7766",
  cli: "cse7766",
  line: { baud: 4800, parity: "even" },
  cal: "multiply",
  // src/driver/drv_cse7766.c DEFAULT_*_CAL, PWR_CAL_MULTIPLY (the file notes HLW8032 is the same protocol)
  defaults: CSE7766_DEFAULTS,
  obkDriver: "CSE7766",
  protocol: {
    kind: "packets",
    init: [],
    request: null,
    parser: () => new Cse7766Parser(),
    // exact ratios: OBK truncates V and P to integers, which costs ~0.4 % at 230 V
    sample: (p) => ({ raw: cse7766Raw(p, { truncate: false }) }),
    describe: (p) => ({ raw: cse7766Raw(p), note: "multiply by the unit's calibration factors" }),
  },
  sim: { module: "cse7766.ts", run: "runSimCli" },
});

const rn8209c: ChipSpec = {
  name: "RN8209C",
  cli: "rn8209",
  line: { baud: 4800, parity: "even" },
  cal: "divide",
  // src/driver/drv_rn8209.c DEFAULT_*_CAL, PWR_CAL_DIVIDE
  defaults: RN8209_DEFAULTS,
  obkDriver: "RN8209",
  aliases: ["RN8209"],
  protocol: {
    kind: "registers",
    chip: rn8209,
    poll: [RN8209_REG.URMS, RN8209_REG.IARMS, RN8209_REG.PowerPA],
    // OBK: IA with bit 23 set is noise around zero; a negative PA is made positive
    sample: (r) => ({
      raw: {
        voltage: r.get(RN8209_REG.URMS)!,
        current: rn8209Current(r.get(RN8209_REG.IARMS)!),
        power: Math.abs(r.get(RN8209_REG.PowerPA)!),
      },
    }),
  },
  sim: { module: "register_chips.ts", run: "runRn8209" },
};

const ht7017Spec: ChipSpec = {
  name: "HT7017",
  cli: "ht7017",
  line: { baud: 4800, parity: "even" },
  cal: "divide",
  // OBK has no HT7017 driver: uncalibrated starting points (see ht7017.ts)
  defaults: HT7017_DEFAULTS,
  obkDriver: null,
  protocol: {
    kind: "registers",
    chip: ht7017,
    poll: [HT7017_REG.URMS, HT7017_REG.I1RMS, HT7017_REG.P1, HT7017_REG.FREQ],
    sample: (r) => ({
      raw: { voltage: r.get(HT7017_REG.URMS)!, current: r.get(HT7017_REG.I1RMS)!, power: r.get(HT7017_REG.P1)! },
      frequency: ht7017Frequency(r.get(HT7017_REG.FREQ)!),
    }),
  },
  sim: { module: "register_chips.ts", run: "runHt7017" },
};

const bl6552Spec: ChipSpec = {
  name: "BL6552",
  cli: "bl6552",
  line: null, // the SPM02 reaches it through a TuyaMCU; its own UART settings are not verified
  cal: "divide",
  // OBK has no BL6552 driver: BL0942-family starting points (see bl6552.ts)
  defaults: BL6552_DEFAULTS,
  obkDriver: null,
  protocol: {
    kind: "registers",
    chip: bl6552,
    poll: [...BL6552_PHASES.flatMap((p) => [p.v, p.i, p.p]), BL6552_REG.PERIOD],
    sample: (r) => {
      const phases = BL6552_PHASES.map((p) => ({ voltage: r.get(p.v)!, current: r.get(p.i)!, power: r.get(p.p)! }));
      const period = r.get(BL6552_REG.PERIOD)!;
      return { raw: phases[0], phases, frequency: period ? 1_000_000 / period : undefined };
    },
  },
  sim: { module: "register_chips.ts", run: "runBl6552" },
};

const bl0940 = chip<Bl0940Packet>({
  name: "BL0940",
  cli: "bl0940",
  line: { baud: 4800, parity: "none" },
  cal: "divide",
  // OBK has no BL0940 driver: Tasmota's BL0940_UREF/IREF/PREF (xnrg_14_bl09xx.ino), see bl0940.ts
  defaults: BL0940_DEFAULTS,
  obkDriver: null,
  protocol: {
    kind: "packets",
    init: [],
    request: BL0940_READ_ALL,
    parser: () => new Bl0940Parser(),
    sample: (p) => ({
      raw: { voltage: p.voltageRaw, current: p.currentRaw, power: p.powerRaw },
      count: p.cfCount,
    }),
    describe: (p) => bl0940Values(p),
  },
  energyCounter: { modulo: 0x1000000, whPerCount: bl0940WhPerCount },
  sim: { module: "bl0940.ts", run: "runSimCli" },
});

const table = [bl0942, cse7766, rn8209c, ht7017Spec, bl6552Spec, bl0940];

export const CHIPS: ReadonlyMap<string, ChipSpec> = new Map(table.map((c) => [c.name, c]));
/** The chip names a profile may use, in registry order (for the profile schema's enum). */
export const CHIP_NAMES = table.map((c) => c.name) as [string, ...string[]];

export function chipSpec(name: string): ChipSpec {
  const c = CHIPS.get(name);
  if (!c) throw new Error(`no metering chip "${name}" (known: ${CHIP_NAMES.join(", ")})`);
  return c;
}

/** By command-line name (`bl0942`, `rn8209`, ...). */
export const chipByCli = (cli: string): ChipSpec | undefined => table.find((c) => c.cli === cli);
export const CHIP_CLI_NAMES = table.map((c) => c.cli);
