/**
 * Pollers for metering chips on the module's UART, one per port, each at its
 * chip's own rate. How a chip is read comes from the chip registry
 * (shared/meterchips/registry.ts): packet chips are asked for a packet each poll
 * (BL0942, BL0940) or stream on their own and are sampled every pollMs (CSE7766);
 * register chips answer one request per register (RN8209C, HT7017, BL6552).
 * Energy comes from the chip's pulse counter with wrap when it has one, else ∫P dt.
 * Raw values are kept so a bench calibration can use them; factors can be
 * replaced while running.
 */
import type { DeviceProfile } from "../../shared/profiles/types.ts";
import { decodeRegisterResponse, registerSize } from "../../shared/meterchips/register.ts";
import {
  type ChipSample,
  type ChipSpec,
  chipSpec,
  type PacketProtocol,
  type RegisterProtocol,
} from "../../shared/meterchips/registry.ts";
import { applyFactor, type Triple } from "../../shared/meterchips/calibration.ts";
import type { PhaseReading, Reading } from "../../shared/telemetry.ts";
import { SerialError, type SerialPort } from "../serial/mod.ts";
import { SerialPoller, type SerialPollerOptions } from "./serial_poller.ts";

export interface ChipPollerOptions extends SerialPollerOptions {
  profile: DeviceProfile;
  /** calibration factors; default: the profile's, else the chip's OBK defaults */
  factors?: Triple;
}

export class ChipPoller extends SerialPoller {
  readonly chip: string;
  readonly spec: ChipSpec;
  readonly pollMs: number;
  factors: Triple;
  /** the latest raw V/I/P (before factors), what VoltageSet/CurrentSet/PowerSet would use */
  latestRaw: Triple | null = null;
  #energyWh: number;
  #lastCount: number | null = null;
  declare readonly o: ChipPollerOptions;

  constructor(o: ChipPollerOptions) {
    const t = o.profile.transport;
    if (t.kind !== "chip") throw new Error(`profile ${o.profile.id} is not a chip meter`);
    super(o, { baud: t.baud, parity: t.parity });
    this.chip = t.chip;
    this.spec = chipSpec(t.chip);
    this.pollMs = t.pollMs;
    this.factors = { ...(o.factors ?? t.factors ?? this.spec.defaults) };
    this.#energyWh = o.energyWh ?? 0;
  }

  /** Apply new calibration factors to this running driver (bench calibration). */
  setFactors(f: Triple) {
    this.factors = { ...f };
  }

  protected session(port: SerialPort): Promise<void> {
    const p = this.spec.protocol;
    if (p.kind === "registers") return this.#registers(port, p);
    return p.request ? this.#askedPackets(port, p, p.request) : this.#streamedPackets(port, p);
  }

  #value(raw: Triple): Triple {
    const k = this.spec.cal;
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

  #warnCodec(error: { code: string; message: string }) {
    this.event("warn", error.code === "bad_checksum" ? "checksum" : error.code, error.message);
  }

  /** Chips that answer a request with one packet (BL0942 read-all). */
  async #askedPackets(port: SerialPort, proto: PacketProtocol<unknown>, request: Uint8Array) {
    for (const w of proto.init) await port.write(w, 1000);
    const parser = proto.parser();
    while (!this.stopped) {
      const started = this.clock.now();
      await port.write(request, 1000);
      let got = false;
      while (!got && !this.stopped && this.clock.now() - started < this.pollMs) {
        for (const e of parser.push(await port.readSome(50))) {
          if (e.kind === "error") this.#warnCodec(e.error);
          if (e.kind !== "packet") continue;
          got = true;
          this.#sample(proto.sample(e.packet));
        }
      }
      if (!got && !this.stopped) this.event("warn", "no_reply", `${this.chip} did not answer read-all`);
      await this.#pause(started);
    }
  }

  /** Chips that stream packets unasked (CSE7766 every ~50 ms): the latest one is sampled every pollMs. */
  async #streamedPackets(port: SerialPort, proto: PacketProtocol<unknown>) {
    for (const w of proto.init) await port.write(w, 1000);
    const parser = proto.parser();
    let latest: { packet: unknown } | null = null;
    let lastEmit = this.clock.now();
    while (!this.stopped) {
      for (const e of parser.push(await port.readSome(50))) {
        if (e.kind === "packet") latest = { packet: e.packet };
        else if (e.kind === "error") this.#warnCodec(e.error);
      }
      if (this.clock.now() - lastEmit < this.pollMs) continue;
      lastEmit = this.clock.now();
      if (!latest) {
        this.event("warn", "no_data", `no ${this.chip} packet in the last poll period`);
        continue;
      }
      const s = proto.sample(latest.packet);
      latest = null;
      this.#sample(s);
    }
  }

  async #registers(port: SerialPort, proto: RegisterProtocol) {
    const chip = proto.chip;
    while (!this.stopped) {
      const started = this.clock.now();
      const got = new Map<number, number>();
      for (const reg of proto.poll) {
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
      if (got.size === proto.poll.length) this.#sample(proto.sample(got));
      await this.#pause(started);
    }
  }

  /** One chip sample → one reading: factors, energy (counter with wrap, else ∫P dt), phases. */
  #sample(s: ChipSample) {
    this.latestRaw = s.raw;
    if (s.phases) {
      const phases: PhaseReading[] = s.phases.map((raw) => {
        const v = this.#value(raw);
        return { voltage: round(v.voltage, 3), current: round(v.current, 4), power: round(v.power, 3) };
      });
      const total = {
        voltage: phases.reduce((sum, p) => sum + p.voltage, 0) / phases.length,
        current: phases.reduce((sum, p) => sum + p.current, 0),
        power: phases.reduce((sum, p) => sum + p.power, 0),
      };
      const reading = this.#reading(total, this.integrate(total.power), s.frequency);
      reading.phases = phases;
      this.emit(reading);
      return;
    }
    const counter = this.spec.energyCounter;
    if (counter && s.count !== undefined) {
      if (this.#lastCount !== null) {
        const counts = (s.count - this.#lastCount + counter.modulo) % counter.modulo; // the counter wraps
        this.#energyWh += counts * counter.whPerCount(this.factors.power);
      }
      this.#lastCount = s.count;
      this.emit(this.#reading(this.#value(s.raw), this.#energyWh, s.frequency));
      return;
    }
    const v = this.#value(s.raw);
    this.emit(this.#reading(v, this.integrate(v.power), s.frequency));
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
