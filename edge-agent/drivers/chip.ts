/**
 * Pollers for metering chips on the module's UART, one per port, each at its
 * chip's own rate: BL0942 (ask `58 AA`, 23-byte answer; energy from the 24-bit
 * CF_CNT with wrap), CSE7766 (listens to the 50 ms stream, samples every
 * pollMs), and the register chips RN8209C, HT7017, BL6552 (one request per
 * register). Raw values are kept so a bench calibration can use them; factors
 * can be replaced while running.
 */
import type { DeviceProfile } from "../../shared/profiles/types.ts";
import {
  BL0942_DEFAULTS,
  BL0942_INIT,
  BL0942_READ_ALL,
  Bl0942Parser,
  bl0942WhPerCount,
} from "../../shared/meterchips/bl0942.ts";
import { CSE7766_DEFAULTS, type Cse7766Packet, Cse7766Parser, cse7766Raw } from "../../shared/meterchips/cse7766.ts";
import { decodeRegisterResponse, type RegisterChip, registerSize } from "../../shared/meterchips/register.ts";
import { rn8209, RN8209_DEFAULTS, rn8209Current } from "../../shared/meterchips/rn8209.ts";
import { ht7017, HT7017_DEFAULTS, ht7017Frequency } from "../../shared/meterchips/ht7017.ts";
import { bl6552, BL6552_DEFAULTS, BL6552_PHASES, BL6552_REG } from "../../shared/meterchips/bl6552.ts";
import { applyFactor, calKind, type Triple } from "../../shared/meterchips/calibration.ts";
import type { PhaseReading, Reading } from "../../shared/telemetry.ts";
import { SerialError, type SerialPort } from "../serial/mod.ts";
import { SerialPoller, type SerialPollerOptions } from "./serial_poller.ts";

export type ChipName = "BL0942" | "CSE7766" | "RN8209C" | "HT7017" | "BL6552";

export const CHIP_DEFAULT_FACTORS: Record<ChipName, Triple> = {
  BL0942: BL0942_DEFAULTS,
  CSE7766: CSE7766_DEFAULTS,
  RN8209C: RN8209_DEFAULTS,
  HT7017: HT7017_DEFAULTS,
  BL6552: BL6552_DEFAULTS,
};

export interface ChipPollerOptions extends SerialPollerOptions {
  profile: DeviceProfile;
  /** calibration factors; default: the profile's, else the chip's OBK defaults */
  factors?: Triple;
}

export class ChipPoller extends SerialPoller {
  readonly chip: ChipName;
  readonly pollMs: number;
  factors: Triple;
  /** the latest raw V/I/P (before factors), what VoltageSet/CurrentSet/PowerSet would use */
  latestRaw: Triple | null = null;
  #energyWh: number;
  #lastCf: number | null = null;
  declare readonly o: ChipPollerOptions;

  constructor(o: ChipPollerOptions) {
    const t = o.profile.transport;
    if (t.kind !== "chip") throw new Error(`profile ${o.profile.id} is not a chip meter`);
    super(o, { baud: t.baud, parity: t.parity });
    this.chip = t.chip;
    this.pollMs = t.pollMs;
    this.factors = { ...(o.factors ?? t.factors ?? CHIP_DEFAULT_FACTORS[t.chip]) };
    this.#energyWh = o.energyWh ?? 0;
  }

  /** Apply new calibration factors to this running driver (bench calibration). */
  setFactors(f: Triple) {
    this.factors = { ...f };
  }

  protected session(port: SerialPort): Promise<void> {
    switch (this.chip) {
      case "BL0942":
        return this.#bl0942(port);
      case "CSE7766":
        return this.#cse7766(port);
      case "RN8209C":
        return this.#registers(port, rn8209, [0x24, 0x22, 0x26]);
      case "HT7017":
        return this.#registers(port, ht7017, [0x08, 0x06, 0x0a, 0x09]);
      case "BL6552":
        return this.#registers(port, bl6552, [...BL6552_PHASES.flatMap((p) => [p.v, p.i, p.p]), BL6552_REG.PERIOD]);
    }
  }

  #value(raw: Triple): Triple {
    const k = calKind(this.chip);
    return {
      voltage: applyFactor(k, raw.voltage, this.factors.voltage),
      current: applyFactor(k, raw.current, this.factors.current),
      power: applyFactor(k, raw.power, this.factors.power),
    };
  }

  async #pause(started: number) {
    const wait = this.pollMs - (this.clock.now() - started);
    if (wait > 0 && !this.stopped) await this.clock.sleep(wait).catch(() => {});
  }

  async #bl0942(port: SerialPort) {
    for (const w of BL0942_INIT) await port.write(w, 1000);
    const parser = new Bl0942Parser();
    while (!this.stopped) {
      const started = this.clock.now();
      await port.write(BL0942_READ_ALL, 1000);
      let got = false;
      while (!got && !this.stopped && this.clock.now() - started < this.pollMs) {
        for (const e of parser.push(await port.readSome(50))) {
          if (e.kind === "error") {
            this.event("warn", e.error.code === "bad_checksum" ? "checksum" : e.error.code, e.error.message);
          }
          if (e.kind !== "packet") continue;
          got = true;
          const p = e.packet;
          const raw = { voltage: p.voltageRaw, current: p.currentRaw, power: p.powerRaw };
          this.latestRaw = raw;
          if (this.#lastCf !== null) {
            const counts = (p.cfCount - this.#lastCf + 0x1000000) % 0x1000000; // 24-bit wrap
            this.#energyWh += counts * bl0942WhPerCount(this.factors.power);
          }
          this.#lastCf = p.cfCount;
          const v = this.#value(raw);
          this.emit(this.#reading(v, this.#energyWh, p.freqRaw ? 1_000_000 / p.freqRaw : undefined));
        }
      }
      if (!got && !this.stopped) this.event("warn", "no_reply", "BL0942 did not answer read-all");
      await this.#pause(started);
    }
  }

  async #cse7766(port: SerialPort) {
    const parser = new Cse7766Parser();
    let latest: Cse7766Packet | null = null;
    let lastEmit = this.clock.now();
    while (!this.stopped) {
      for (const e of parser.push(await port.readSome(50))) {
        if (e.kind === "packet") latest = e.packet;
        else if (e.kind === "error") {
          this.event("warn", e.error.code === "bad_checksum" ? "checksum" : e.error.code, e.error.message);
        }
      }
      if (this.clock.now() - lastEmit < this.pollMs) continue;
      lastEmit = this.clock.now();
      if (!latest) {
        this.event("warn", "no_data", "no CSE7766 packet in the last poll period");
        continue;
      }
      // exact ratios: OBK truncates V and P to integers, which costs ~0.4 % at 230 V
      const raw = cse7766Raw(latest, { truncate: false });
      latest = null;
      this.latestRaw = raw;
      const v = this.#value(raw);
      this.emit(this.#reading(v, this.integrate(v.power)));
    }
  }

  async #registers(port: SerialPort, chip: RegisterChip, regs: number[]) {
    while (!this.stopped) {
      const started = this.clock.now();
      const got = new Map<number, number>();
      for (const reg of regs) {
        if (this.stopped) return;
        port.flush(); // a late or noisy answer to the last request must not be read as this one
        await port.write(chip.readRequest(reg), 1000);
        try {
          const resp = await port.read(registerSize(chip, reg) + 1, Math.max(100, this.pollMs));
          got.set(reg, decodeRegisterResponse(chip, reg, resp).value);
        } catch (e) {
          if (e instanceof SerialError && e.code === "TIMEOUT") {
            this.event("warn", "no_reply", `${chip.chip} register 0x${reg.toString(16)}: no answer`);
          } else if (e instanceof SerialError) throw e;
          else {this.event(
              "warn",
              (e as { code?: string }).code === "bad_checksum" ? "checksum" : "bad_reply",
              (e as Error).message,
            );}
        }
      }
      if (got.size === regs.length) this.#fromRegisters(chip, got);
      await this.#pause(started);
    }
  }

  #fromRegisters(chip: RegisterChip, r: Map<number, number>) {
    if (chip === rn8209) {
      // OBK: IA with bit 23 set is noise around zero; a negative PA is made positive
      const raw = { voltage: r.get(0x24)!, current: rn8209Current(r.get(0x22)!), power: Math.abs(r.get(0x26)!) };
      this.latestRaw = raw;
      const v = this.#value(raw);
      this.emit(this.#reading(v, this.integrate(v.power)));
    } else if (chip === ht7017) {
      const raw = { voltage: r.get(0x08)!, current: r.get(0x06)!, power: r.get(0x0a)! };
      this.latestRaw = raw;
      const v = this.#value(raw);
      this.emit(this.#reading(v, this.integrate(v.power), ht7017Frequency(r.get(0x09)!)));
    } else {
      const phases: PhaseReading[] = BL6552_PHASES.map((p) => {
        const v = this.#value({ voltage: r.get(p.v)!, current: r.get(p.i)!, power: r.get(p.p)! });
        return { voltage: round(v.voltage, 3), current: round(v.current, 4), power: round(v.power, 3) };
      });
      this.latestRaw = {
        voltage: r.get(BL6552_PHASES[0].v)!,
        current: r.get(BL6552_PHASES[0].i)!,
        power: r.get(BL6552_PHASES[0].p)!,
      };
      const total = {
        voltage: phases.reduce((s, p) => s + p.voltage, 0) / 3,
        current: phases.reduce((s, p) => s + p.current, 0),
        power: phases.reduce((s, p) => s + p.power, 0),
      };
      const period = r.get(BL6552_REG.PERIOD)!;
      const reading = this.#reading(total, this.integrate(total.power), period ? 1_000_000 / period : undefined);
      reading.phases = phases;
      this.emit(reading);
    }
  }

  #reading(v: Triple, energyWh: number, frequency?: number): Reading {
    const r: Reading = {
      deviceId: this.o.deviceId,
      ts: this.clock.now(),
      voltage: round(Math.max(0, v.voltage), 3),
      current: round(Math.max(0, v.current), 4),
      power: round(v.power, 3),
      energyWh: round(energyWh, 4),
    };
    if (frequency !== undefined && Number.isFinite(frequency) && frequency < 100) r.frequency = round(frequency, 3);
    const s = r.voltage * r.current;
    if (s > 0.5) r.powerFactor = round(Math.max(-1, Math.min(1, r.power / s)), 3);
    return r;
  }
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
