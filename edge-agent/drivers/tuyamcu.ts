/**
 * TuyaMCU poller: the handshake OpenBeken runs (reference §4.2) — heartbeat,
 * product query until answered, working mode, Wi-Fi state 4 ("cloud connected",
 * so the MCU reports), query state until the first report — then heartbeats,
 * periodic Wi-Fi state and query state. Missed heartbeats and MCU resets
 * (a heartbeat answer of 00 after 01) restart the handshake and are reported as
 * events. DPs map to readings through the device profile.
 */
import type { DeviceProfile } from "../../shared/profiles/types.ts";
import { DpState } from "../../shared/profiles/readings.ts";
import { TuyaCommand, type TuyaFrame, TuyaFrameParser } from "../../shared/tuyamcu/frame.ts";
import { decodeDatapoints, decodeRecordReport, type DpInput } from "../../shared/tuyamcu/dp.ts";
import { parseProductInfo, tuyaMessages, WifiState } from "../../shared/tuyamcu/messages.ts";
import type { SerialPort } from "../serial/mod.ts";
import { SerialPoller, type SerialPollerOptions } from "./serial_poller.ts";

export interface TuyaTiming {
  heartbeatMs: number;
  /** a handshake step is re-sent this often until answered */
  retryMs: number;
  /** heartbeats without an answer before the MCU counts as gone (OBK: 4) */
  missedHeartbeats: number;
  wifiStateMs: number;
  /** quiet time after the last DP of a burst before a reading is taken */
  burstGapMs: number;
}

export const OBK_TIMING: TuyaTiming = {
  heartbeatMs: 4000,
  retryMs: 1000,
  missedHeartbeats: 4,
  wifiStateMs: 60000,
  burstGapMs: 150,
};

type Phase = "heartbeat" | "product" | "mode" | "wifi" | "query" | "running";

export class TuyaMcuPoller extends SerialPoller {
  readonly state: DpState;
  readonly timing: TuyaTiming;
  phase: Phase = "heartbeat";
  product?: string;
  #seenHeartbeat = false;
  #unanswered = 0;
  #lastHeartbeat = -Infinity;
  #lastStep = -Infinity;
  #lastWifi = -Infinity;
  #lastQuery = -Infinity;
  #dirtyAt: number | null = null;
  /** handshake restarts, for tests and the UI */
  resets = 0;
  #outbox: Uint8Array[] = [];

  constructor(o: SerialPollerOptions & { profile: DeviceProfile; timing?: Partial<TuyaTiming> }) {
    const t = o.profile.transport;
    if (t.kind !== "tuyamcu") throw new Error(`profile ${o.profile.id} is not a TuyaMCU meter`);
    super(o, { baud: t.baud, parity: t.parity });
    this.state = new DpState(o.profile);
    this.timing = { ...OBK_TIMING, ...o.timing };
  }

  get queryMs() {
    return this.o.profile.transport.kind === "tuyamcu" ? this.o.profile.transport.queryMs : 5000;
  }

  declare readonly o: SerialPollerOptions & { profile: DeviceProfile };

  /** Queue a set-DP command (e.g. the relay, dp 16 bool); sent once the handshake is done. */
  setDp(dp: DpInput) {
    this.#outbox.push(tuyaMessages.setDp([dp]));
  }

  /** The profile's relay DP, if it has one. */
  setRelay(on: boolean) {
    const t = this.o.profile.transport;
    const relay = t.kind === "tuyamcu" ? t.datapoints.find((d) => d.quantity === "relay") : undefined;
    if (!relay) throw new Error(`profile ${this.o.profile.id} has no relay DP`);
    this.setDp({ id: relay.dp, type: "bool", value: on });
  }

  protected async session(port: SerialPort) {
    const parser = new TuyaFrameParser();
    this.#restart();
    while (!this.stopped) {
      await this.#timers(port);
      while (this.phase === "running" && this.#outbox.length) await this.#send(port, this.#outbox.shift()!);
      const got = await port.readSome(25);
      for (const e of parser.push(got)) {
        if (e.kind === "frame") await this.#onFrame(port, e.frame);
        else if (e.kind === "error") {
          this.event("warn", e.error.code === "bad_checksum" ? "checksum" : e.error.code, e.error.message);
        }
      }
      this.#maybeEmit();
    }
  }

  #restart() {
    this.phase = "heartbeat";
    this.#seenHeartbeat = false;
    this.#unanswered = 0;
    this.#lastHeartbeat = -Infinity;
    this.#lastStep = -Infinity;
  }

  async #send(port: SerialPort, bytes: Uint8Array) {
    await port.write(bytes, 1000);
  }

  async #timers(port: SerialPort) {
    const now = this.clock.now();
    const hbEvery = this.phase === "heartbeat" ? this.timing.retryMs : this.timing.heartbeatMs;
    if (now - this.#lastHeartbeat >= hbEvery) {
      if (this.#unanswered >= this.timing.missedHeartbeats) {
        if (this.phase !== "heartbeat") {
          this.event("warn", "silent", `MCU missed ${this.#unanswered} heartbeats; restarting the handshake`);
          this.resets++;
        }
        this.#restart();
      }
      this.#lastHeartbeat = now;
      this.#unanswered++;
      await this.#send(port, tuyaMessages.heartbeat());
    }
    if (this.phase !== "heartbeat" && this.phase !== "running" && now - this.#lastStep >= this.timing.retryMs) {
      this.#lastStep = now;
      const step = {
        product: tuyaMessages.productInfo,
        mode: tuyaMessages.workingMode,
        wifi: () => tuyaMessages.wifiState(WifiState.cloud),
        query: tuyaMessages.queryState,
      }[this.phase];
      await this.#send(port, step());
    }
    if (this.phase === "running") {
      if (now - this.#lastWifi >= this.timing.wifiStateMs) {
        this.#lastWifi = now;
        await this.#send(port, tuyaMessages.wifiState(WifiState.cloud));
      }
      if (now - this.#lastQuery >= this.queryMs) {
        this.#lastQuery = now;
        await this.#send(port, tuyaMessages.queryState());
      }
    }
  }

  #advance(to: Phase) {
    this.phase = to;
    this.#lastStep = -Infinity;
  }

  async #onFrame(port: SerialPort, f: TuyaFrame) {
    const now = this.clock.now();
    switch (f.command) {
      case TuyaCommand.heartbeat: {
        this.#unanswered = 0;
        const first = f.data[0] === 0;
        if (first && this.#seenHeartbeat) {
          this.event("warn", "mcu_reset", "MCU answered heartbeat 00 again: it rebooted; redoing the handshake");
          this.resets++;
          this.#advance("product");
        } else if (this.phase === "heartbeat") {
          this.#advance("product");
        }
        this.#seenHeartbeat = true;
        return;
      }
      case TuyaCommand.productInfo:
        this.product = parseProductInfo(f.data).text;
        if (this.phase === "product") this.#advance("mode");
        return;
      case TuyaCommand.workingMode:
        if (this.phase === "mode") this.#advance("wifi");
        return;
      case TuyaCommand.wifiState:
        if (this.phase === "wifi") {
          this.#lastWifi = now;
          this.#advance("query");
        }
        return;
      case TuyaCommand.wifiReset:
        await this.#send(port, tuyaMessages.wifiResetAck());
        return;
      case TuyaCommand.timeSync:
        await this.#send(port, tuyaMessages.timeSync(new Date(this.clock.now())));
        return;
      case TuyaCommand.getRssi:
        await this.#send(port, tuyaMessages.rssi(-60));
        return;
      case TuyaCommand.networkStatus:
        await this.#send(port, tuyaMessages.networkStatus(WifiState.cloud));
        return;
      case TuyaCommand.syncReport:
        await this.#send(port, tuyaMessages.syncReportAck());
        this.#dps(f);
        return;
      case TuyaCommand.stateReport:
        this.#dps(f);
        if (this.phase === "query") {
          this.#lastQuery = now;
          this.#advance("running");
        }
        return;
      case TuyaCommand.wifiSelect:
        if (f.version === 0) this.#dps(f); // v0: real-time DP report
        return;
      case TuyaCommand.queryState:
        // v0: a battery MCU's stored record, 7 date bytes then datapoints (drv_tuyaMCU.c)
        if (f.version === 0 && f.data.length > 0) this.#dps(f, true);
        return;
    }
  }

  #dps(f: TuyaFrame, record = false) {
    try {
      const dps = record ? decodeRecordReport(f.data).datapoints : decodeDatapoints(f.data);
      for (const d of dps) this.state.apply(d);
      this.#dirtyAt = this.clock.now();
    } catch (e) {
      this.event("warn", "bad_dp", (e as Error).message);
    }
  }

  #maybeEmit() {
    if (this.#dirtyAt === null || this.clock.now() - this.#dirtyAt < this.timing.burstGapMs) return;
    this.#dirtyAt = null;
    const now = this.clock.now();
    const power = this.state.whole.power ?? this.state.phases.reduce((s, p) => s + (p.power ?? 0), 0);
    const wh = this.state.hasEnergyDp ? 0 : this.integrate(power);
    const r = this.state.snapshot(this.o.deviceId, now, wh);
    if (r) this.emit(r);
  }
}
