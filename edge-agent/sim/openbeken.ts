/**
 * Simulated OpenBeken units (the DEVICE side), for tests, benchmarks and the
 * demo: strict where the firmware is (OpenBK7231T_App 1.18.299; each behaviour
 * cites its source file below), written independently of the server's parsers
 * (a shared bug must not pass both sides).
 * - MQTT (src/mqtt/new_mqtt.c): client id = topic, keep-alive 100 s, will
 *   `<topic>/connected` = offline (retain, QoS 1); on connect `connected` =
 *   online (retain, QoS 2), the self-state items one by one, HA discovery
 *   (flag 27); meter values by drv_bl_shared.c's threshold/interval rule;
 *   commands on `cmnd/<topic>/+` and the platform group `cmnd/bekens_n|t/+`.
 * - OTA (`ota_http`, obk-httpclient.ts + hal_ota_bk7231.c): MQTT dropped
 *   without DISCONNECT, OBK's download client on a raw socket, a reboot after
 *   EVERY ota_http; the bootloader boots the new image only when the whole
 *   package arrived and checks out (bad, wrong-chip or partial: old version).
 * - Reboots are power cuts to the network: no DISCONNECT, no FIN; the will
 *   comes at keep-alive or when the unit takes its client id back.
 * - HTTP: `POST /api/ota` (raw body, answers {"size":N}, no reboot) +
 *   `POST /api/reboot` ({"reboot":3}); `/api/info`. (Deno.serve answers with a
 *   CRLF status line and Content-Length, not OBK's bare-LF responses.)
 * - Failure modes: bad image, never returns, slow download, offline, drop_half
 *   (the first download's socket closes after `dropAfterBytes`).
 */
import mqtt, { type MqttClient } from "mqtt";
import { parseArgs } from "node:util";
import { crc32Zlib } from "../../shared/bk7231/crc32.ts";
import { readSimMarker } from "./obk-image.ts";
import { obkHttpGet } from "./obk-httpclient.ts";
import { OBK_PLATFORM_GROUPS, unitMqttCredentials } from "../../shared/obk-config.ts";

export type ObkBehaviour = "ok" | "bad_image" | "never_returns" | "slow_download" | "offline" | "drop_half";

export interface ObkSimOptions {
  index: number;
  chip?: "BK7231N" | "BK7231T";
  version?: string;
  behaviour?: ObkBehaviour;
  /** serve /api/info, /api/ota, /api/reboot on 127.0.0.1 (port 0 = any) */
  http?: boolean;
  /** time from "reboot" to reconnect (real units: tens of seconds while the bootloader unpacks) */
  bootMs?: number;
  /** OBK waits 1 s after a finished ota_http download before rebooting; /api/reboot waits 3 s */
  rebootDelayMs?: number;
  /** extra delay per download for slow_download */
  slowDownloadMs?: number;
  /** gap between self-state items (OBK: 1 item per second) */
  itemGapMs?: number;
  /** metering frame period (OBK: 1000 ms, one BL_ProcessUpdate a second); 0 = no meter values */
  meterIntervalMs?: number;
  /** the power factor the metering chip sees; > 1 models an uncalibrated unit (OBK publishes P/S unclamped) */
  uncalibratedPf?: number;
  /** publish Home Assistant discovery after connecting (flag 27, "automatic HA discovery"; default on) */
  haDiscovery?: boolean;
  /** drop_half: bytes after which the first download's socket is closed */
  dropAfterBytes?: number;
  /** web password: every /api/ call then needs HTTP Basic auth as user `admin` (src/httpserver/http_basic_auth.c) */
  webPassword?: string;
  /** MQTT username/password for this unit's topic (the broker may require them) */
  credentials?: (topic: string) => Promise<{ username?: string; password?: string }>;
  /** a steady load instead of the default wandering one (true volts and watts at the terminals) */
  load?: { voltage: number; power: number };
  /** uncalibrated gain of the metering chip: readings = true × this (e.g. 1.03 reads 3 % high) */
  meterGain?: { voltage: number; current: number; power: number };
}

type Q = "voltage" | "current" | "power";
/** raw counts per volt/amp/watt of the simulated chip (a DIVIDE chip like the BL0942: reading = raw / factor) */
const COUNTS: Record<Q, number> = { voltage: 15188, current: 251210, power: 598 };

const BUILD_DATE = "Jul 24 2026 10:41:55";
const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/**
 * MQTT_PublishMain_StringFloat (src/mqtt/new_mqtt.c): the value is a C float, printed with "%f" (six
 * decimals, rounded from the float's exact value), then stripDecimalPlaces (src/new_common.c) cuts the
 * text after `decimals` digits without rounding. 231.4 is the float 231.399993896…, "%f" gives
 * "231.399994", cut to one decimal: "231.3".
 */
export function obkFloat(x: number, decimals: number): string {
  const text = Math.fround(Number.isNaN(x) ? 0 : x).toFixed(6);
  const dot = text.indexOf(".");
  return decimals === 0 ? text.slice(0, dot) : text.slice(0, dot + 1 + decimals);
}

/** datasetlist in src/driver/drv_bl_shared.c: MQTT name, rounding_decimals, changeSendThreshold. */
const OBK_SENSORS = [
  { name: "voltage", decimals: 1, threshold: 0.25, cls: "voltage", unit: "V", suffix: "0" },
  { name: "current", decimals: 3, threshold: 0.002, cls: "current", unit: "A", suffix: "1" },
  { name: "power", decimals: 2, threshold: 0.25, cls: "power", unit: "W", suffix: "2" },
  { name: "138", decimals: 2, threshold: 0.02, cls: "frequency", unit: "Hz", suffix: "138" },
  { name: "power_apparent", decimals: 2, threshold: 0.25, cls: "apparent_power", unit: "VA", suffix: "9" },
  { name: "power_reactive", decimals: 2, threshold: 0.25, cls: "reactive_power", unit: "var", suffix: "10" },
  { name: "power_factor", decimals: 2, threshold: 0.05, cls: "power_factor", unit: "", suffix: "11" },
  { name: "energycounter", decimals: 3, threshold: 0.1, cls: "energy", unit: "Wh", suffix: "3" },
  { name: "energycounter_last_hour", decimals: 3, threshold: 0.1, cls: "energy", unit: "Wh", suffix: "4" },
] as const;

/**
 * BL_ProcessUpdate's publish decision per quantity (src/driver/drv_bl_shared.c): lastSentValue and
 * noChangeFrame start at 0; a value is sent when |lastSent − reading| > changeSendThreshold and
 * noChangeFrame ≥ changeDoNotSendMinFrames (5), or when noChangeFrame ≥ changeSendAlwaysFrames (60);
 * sending resets noChangeFrame, every other frame increments it. So a steady value goes out every 61
 * frames, a moving one at most every 6.
 */
export class ObkPublishRule {
  #sent: Record<string, { last: number; frames: number }> = {};
  /** one frame: the [name, payload] pairs to publish */
  frame(values: Record<string, number>): [string, string][] {
    const out: [string, string][] = [];
    for (const s of OBK_SENSORS) {
      const v = values[s.name];
      if (v === undefined || Number.isNaN(v)) continue;
      const st = this.#sent[s.name] ??= { last: 0, frames: 0 };
      const diff = Math.fround(st.last) - Math.fround(v);
      if ((Math.abs(diff) > s.threshold && st.frames >= 5) || st.frames >= 60) {
        st.frames = 0;
        st.last = v;
        out.push([s.name, obkFloat(v, s.decimals)]);
      } else st.frames++;
    }
    return out;
  }
}

export class ObkSimUnit {
  readonly chip: string;
  readonly mac: string;
  readonly topic: string;
  readonly group: string;
  version: string;
  behaviour: ObkBehaviour;
  /** VoltageSet/CurrentSet/PowerSet received and applied */
  calibrations: { quantity: "voltage" | "current" | "power"; real: number }[] = [];
  /** `ota_http` commands received (tests assert "never twice") */
  otaCommands = 0;
  otaUrls: string[] = [];
  httpOtaUploads = 0;
  /** the subscriptions the broker refused at the last connect (OpenBeken's own set, see #connect) */
  refusedSubscriptions: string[] = [];
  /** what each `ota_http` download ended with (the strict client's view) */
  downloads: {
    url: string;
    outcome: string;
    status: number | null;
    contentLength: number | null;
    bytes: number;
    headerNames: string[];
    detail: string;
  }[] = [];
  reboots = 0;
  httpPort: number | null = null;
  #client: MqttClient | null = null;
  #http: Deno.HttpServer | null = null;
  #bootAt = Date.now();
  /**
   * the total counter (OBK_CONSUMPTION_TOTAL): survives reboots, as OBK keeps it in flash vars
   * (HAL_FlashVars_SaveTotalConsumption; saved before every OTA reboot, hal_ota_bk7231.c state 2)
   */
  #energyWh = 1000 + Math.random() * 1000;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #pendingImage: Uint8Array | null = null;
  #stopped = false;
  #brokerUrl = "";
  #busy = false;
  #auth: { username?: string; password?: string } = {};
  /** the chip's factors (drv_pwrCal.c voltage_cal/current_cal/power_cal), and its latest raw values */
  factors: Record<Q, number>;
  #latestRaw: Record<Q, number> = { voltage: 0, current: 0, power: 0 };

  constructor(private o: ObkSimOptions) {
    // units in the field have been up for a while
    this.#bootAt = Date.now() - (3600 + (o.index % 1000) * 61) * 1000;
    this.chip = o.chip ?? "BK7231N";
    const b = [0xc8, 0x47, 0x8c, 0x10 + ((o.index >> 16) & 0xff), (o.index >> 8) & 0xff, o.index & 0xff];
    this.mac = b.map(hex2).join(":");
    // default name: obk + MAC bytes 2..5, uppercase (openbeken.md §0)
    this.topic = "obk" + b.slice(2).map(hex2).join("").toUpperCase();
    this.group = OBK_PLATFORM_GROUPS[this.chip === "BK7231T" ? "bk7231t" : "bk7231n"];
    this.version = o.version ?? "1.18.299";
    this.behaviour = o.behaviour ?? "ok";
    const g = o.meterGain ?? { voltage: 1, current: 1, power: 1 };
    this.factors = {
      voltage: COUNTS.voltage / g.voltage,
      current: COUNTS.current / g.current,
      power: COUNTS.power / g.power,
    };
    this.#meter.power = 40 + (o.index % 7) * 30;
    this.#truePower = this.#meter.power;
  }

  get online() {
    return this.#client?.connected ?? false;
  }

  async start(brokerUrl: string) {
    this.#brokerUrl = brokerUrl;
    this.#auth = (await this.o.credentials?.(this.topic)) ?? {};
    if (this.o.http) {
      this.#http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => this.#serve(req));
      this.httpPort = (this.#http.addr as Deno.NetAddr).port;
    }
    if (this.behaviour !== "offline") await this.#connect();
  }

  /** An offline unit comes back (power restored, Wi-Fi back). */
  async comeOnline() {
    if (this.behaviour === "offline") this.behaviour = "ok";
    if (!this.#client) await this.#connect();
  }

  #later(ms: number, fn: () => void | Promise<void>) {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) Promise.resolve(fn()).catch(() => {});
    }, ms);
    this.#timers.add(t);
  }

  async #connect() {
    if (this.#stopped) return;
    const client = mqtt.connect(this.#brokerUrl, {
      clientId: this.topic,
      username: this.#auth.username,
      password: this.#auth.password,
      clean: true,
      keepalive: 100,
      reconnectPeriod: 0, // reconnects are this simulator's business (OBK: ~15 s loop)
      protocolVersion: 4,
      will: { topic: `${this.topic}/connected`, payload: Buffer.from("offline"), retain: true, qos: 1 },
    });
    this.#client = client;
    client.on("error", () => {});
    client.on("message", (topic, payload) => this.#onCommand(topic, payload.toString()));
    client.on("close", () => {
      // an unexpected drop (broker restart): come back like OBK does
      if (this.#client === client && !this.#stopped && !this.#busy) {
        this.#client = null;
        this.#later(200, () => this.#connect());
      }
    });
    await new Promise<void>((resolve) => {
      client.once("connect", () => resolve());
      client.once("close", () => resolve());
    });
    if (!client.connected) return;
    try {
      // MQTT_InitCallbacks (src/mqtt/new_mqtt.c), QoS 1: `<topic>/+/set`, `<group>/+/set`, `cmnd/<topic>/+`,
      // `cmnd/<group>/+`, `<topic>/+/get`, `homeassistant/+` (the group defaults to DEF_MQTT_GROUP,
      // src/new_common.h). A refused filter comes back as SUBACK 0x80; OBK carries on without it, and so do we,
      // but counts it so a test can tell.
      const filters = [
        `${this.topic}/+/set`,
        `${this.group}/+/set`,
        `cmnd/${this.topic}/+`,
        `cmnd/${this.group}/+`,
        `${this.topic}/+/get`,
        "homeassistant/+",
      ];
      const refused: string[] = [];
      for (const f of filters) {
        // mqtt.js rejects a SUBACK of 0x80
        const ok = await client.subscribeAsync(f, { qos: 1 }).then((g) => g[0]?.qos !== 128, () => false);
        if (!ok) refused.push(f);
      }
      this.refusedSubscriptions = refused;
      await client.publishAsync(`${this.topic}/connected`, "online", { qos: 2, retain: true });
      await this.#broadcastSelfState(client);
      if (this.o.haDiscovery ?? true) {
        for (const [topic, payload] of this.#discovery()) {
          if (this.#client !== client) break;
          await client.publishAsync(topic, payload, { qos: 1, retain: true });
        }
      }
      if (this.o.meterIntervalMs) this.#meterLoop(client);
    } catch {
      // the connection dropped while we were announcing ourselves: the close handler reconnects
      client.end(true);
    }
  }

  /** The self-state broadcast on connect (flag 10), in MQTT_DoItemPublish order (src/mqtt/new_mqtt.h PUBLISHITEM_*). */
  #selfState(): [string, string][] {
    const t = this.topic;
    return [
      [`${t}/host`, this.topic],
      [`${t}/build`, `Open${this.chip} ${this.version} ${BUILD_DATE}`],
      [`${t}/mac`, this.mac],
      [`${t}/temp`, (38 + (this.o.index % 10) * 0.37).toFixed(2)], // "%.2f", getInternalTemperature()
      [`${t}/ssid`, "SimWiFi"],
      [`${t}/datetime`, String(Math.floor(Date.now() / 1000))],
      [`${t}/sockets`, "3"],
      [`${t}/rssi`, String(-50 - (this.o.index % 30))],
      [`${t}/uptime`, String(Math.floor((Date.now() - this.#bootAt) / 1000))],
      [`${t}/freeheap`, "95168"],
      [`${t}/ip`, "127.0.0.1"],
    ];
  }

  /** Long device name, `Open<chip>_<MAC bytes 2..5>` (src/new_cfg.c CFG_SetDefaultConfig). */
  get longName() {
    return `Open${this.chip}_${this.topic.slice(3)}`;
  }

  /**
   * Home Assistant discovery of the energy sensors (src/httpserver/hass.c hass_populate_unique_id,
   * hass_build_discovery_json; published retained, src/httpserver/http_fns.c): `"~"` is the client id,
   * the topic names the long device name.
   */
  #discovery(): [string, string][] {
    return OBK_SENSORS.map((s) => {
      const uniq = `${this.longName}_sensor_${s.suffix}`;
      const j: Record<string, unknown> = {
        dev: {
          ids: [this.longName],
          name: this.topic,
          sw: this.version,
          mf: "Beken Corporation",
          mdl: this.chip,
          cu: "http://127.0.0.1/index",
        },
        name: s.name,
        "~": this.topic,
        avty_t: "~/connected",
        uniq_id: uniq,
        qos: 1,
        dev_cla: s.cls,
        stat_t: `~/${s.name}/get`,
        stat_cla: s.cls === "energy" ? "total_increasing" : "measurement",
      };
      if (s.unit) j.unit_of_meas = s.unit;
      return [`homeassistant/sensor/${uniq}/config`, JSON.stringify(j)];
    });
  }

  async #broadcastSelfState(client: MqttClient) {
    for (const [topic, payload] of this.#selfState()) {
      if (!client.connected || this.#client !== client) return;
      await client.publishAsync(topic, payload, { qos: 1 }).catch(() => {});
      if (this.o.itemGapMs) await new Promise((r) => setTimeout(r, this.o.itemGapMs));
    }
  }

  /**
   * One BL_ProcessUpdate frame per `meterIntervalMs` (OBK: one a second), src/driver/drv_bl_shared.c:
   * the driver's V, I, P, f; apparent = V·I, reactive = √(S² − P²), power factor = P/S (unclamped: an
   * uncalibrated unit shows > 1); the total counter (a double) grows by P·dt; then for each quantity the
   * publish rule: sent when it moved more than its changeSendThreshold AND at least changeDoNotSendMinFrames
   * (5) frames passed since it was last sent, or after changeSendAlwaysFrames (60) frames whatever it did.
   * QoS 0, `<topic>/<name>/get`, each value a float32 printed `%f` and cut to its decimals.
   */
  #meterLoop(client: MqttClient) {
    const frameMs = this.o.meterIntervalMs!;
    this.#later(frameMs, () => {
      if (this.#client !== client || !client.connected) return;
      const t = Date.now();
      const m = this.#meter;
      // the load at the terminals: a slowly wandering load and mains, or a steady test load
      const load = this.o.load;
      const tv = load?.voltage ?? 230 + 3 * Math.sin(t / 97_000 + this.o.index) + (Math.random() - 0.5) * 0.4;
      const tp = load?.power ?? Math.max(0, this.#truePower + (Math.random() - 0.5) * 2);
      this.#truePower = tp;
      const pf = this.o.uncalibratedPf ?? (load ? 1 : 0.95);
      // the metering chip's raw counts of it, then OBK's Scale (DIVIDE): reading = raw / factor (drv_pwrCal.c)
      this.#latestRaw = {
        voltage: Math.round(tv * COUNTS.voltage),
        current: Math.round((tp / (tv * pf)) * COUNTS.current),
        power: Math.round(tp * COUNTS.power),
      };
      m.voltage = this.#latestRaw.voltage / this.factors.voltage;
      m.current = this.#latestRaw.current / this.factors.current;
      m.power = this.#latestRaw.power / this.factors.power;
      m.frequency = 50 + (Math.random() - 0.5) * 0.04;
      this.#energyWh += (m.power * frameMs) / 3_600_000;
      this.#hourLog.push([t, this.#energyWh]);
      while (this.#hourLog.length > 1 && this.#hourLog[0][0] < t - 3_600_000) this.#hourLog.shift();
      const f = Math.fround;
      const apparent = f(f(m.voltage) * f(m.current));
      const reactive = apparent <= Math.abs(f(m.power)) ? 0 : f(Math.sqrt(apparent ** 2 - f(m.power) ** 2));
      const values: Record<string, number> = {
        voltage: m.voltage,
        current: m.current,
        power: m.power,
        "138": m.frequency,
        power_apparent: apparent,
        power_reactive: reactive,
        power_factor: apparent === 0 ? 1 : f(m.power) / apparent,
        energycounter: this.#energyWh,
        energycounter_last_hour: this.#energyWh - this.#hourLog[0][1],
      };
      for (const [name, text] of this.#rule.frame(values)) {
        client.publish(`${this.topic}/${name}/get`, text, { qos: 0 });
      }
      this.#meterLoop(client);
    });
  }
  #meter = { voltage: 230, current: 0, power: 40, frequency: 50 };
  /** the true load's power, wandering (what the chip measures before its factors) */
  #truePower = 40;
  #rule = new ObkPublishRule();
  #hourLog: [number, number][] = [];

  #onCommand(topic: string, payload: string) {
    // only console commands act here (tasCmnd); `/set`, `/get` and homeassistant/status would not OTA or restart
    if (!topic.startsWith("cmnd/")) return;
    const cmd = topic.split("/").pop()!.toLowerCase();
    if (cmd === "ota_http") {
      this.otaCommands++;
      this.otaUrls.push(payload.trim());
      void this.#otaHttp(payload.trim());
    } else if (cmd === "restart") {
      void this.#reboot(null);
    } else if (cmd === "voltageset" || cmd === "currentset" || cmd === "powerset") {
      this.#calibrate(({ voltageset: "voltage", currentset: "current", powerset: "power" } as const)[cmd], payload);
    }
  }

  /**
   * OpenBeken src/driver/drv_pwrCal.c Calibrate(): the argument is the real value (atof; 0 or
   * missing is refused), and the factor becomes latest raw / real (DIVIDE chips), saved to flash.
   */
  #calibrate(q: Q, arg: string) {
    const real = parseFloat(arg);
    if (!Number.isFinite(real) || real === 0) return; // "Argument must not be 0.0"
    if (this.#latestRaw[q] === 0) return; // no sample yet: OBK would divide by its last raw (0)
    this.factors[q] = this.#latestRaw[q] / real;
    this.calibrations.push({ quantity: q, real });
  }

  /**
   * `ota_http <url>` (src/cmnds/cmd_main.c CMD_HTTPOTA → OTA_RequestDownloadFromHTTP → otarequest in
   * src/hal/bk7231/hal_ota_bk7231.c): a second request while one runs is ignored ("http in progress").
   * The MQTT task sees OTA progress ≠ −1 and calls `mqtt_disconnect` (src/mqtt/new_mqtt.c), which in
   * libraries/mqtt_patched.c only calls mqtt_close → altcp_close: the TCP connection ends without a
   * DISCONNECT packet, so the broker publishes the retained will
   * `offline`. The download runs on the strict client (obk-httpclient.ts); then, in EVERY case —
   * done, 404, 409, refused, bad URL, cut off — myhttpclientcallback state 2 closes the OTA partition,
   * waits 1 s and reboots. The bootloader decides from the partition whether the new image boots.
   */
  async #otaHttp(url: string) {
    if (this.#busy) return;
    this.#busy = true;
    const client = this.#client;
    this.#client = null;
    client?.end(true); // TCP closed, no DISCONNECT: the broker publishes the will
    if (this.behaviour === "slow_download") await new Promise((r) => setTimeout(r, this.o.slowDownloadMs ?? 500));
    const dl = await obkHttpGet(url, {
      timeoutMs: 60_000,
      connect: this.behaviour === "drop_half" && !this.#droppedOnce ? (h, p) => this.#halfConn(h, p) : undefined,
    });
    this.downloads.push({
      url,
      outcome: dl.outcome,
      status: dl.status,
      contentLength: dl.contentLength,
      bytes: dl.written.length,
      headerNames: dl.headerNames,
      detail: dl.detail,
    });
    await new Promise((r) => setTimeout(r, this.o.rebootDelayMs ?? 0));
    await this.#reboot(dl.written.length ? dl.written : null);
  }

  #droppedOnce = false;
  /** A unit whose Wi-Fi drops halfway through its first download: the socket closes after half the bytes. */
  async #halfConn(hostname: string, port: number): Promise<Deno.Conn> {
    this.#droppedOnce = true;
    const conn = await Deno.connect({ hostname, port });
    let got = 0;
    const limit = this.o.dropAfterBytes ?? 4096;
    const read = conn.read.bind(conn);
    (conn as { read: Deno.Conn["read"] }).read = async (p: Uint8Array) => {
      if (got >= limit) {
        conn.close();
        return null;
      }
      const n = await read(p.subarray(0, Math.min(p.length, limit - got)));
      if (n !== null) got += n;
      return n;
    };
    return conn;
  }

  /**
   * The bootloader's view of the OTA partition: a good package for this chip, or null (keep the old app).
   * It reads the RBL header and takes `len` bytes of package after it (bk7231-bootloader.md), so bytes
   * written past the package (more than Content-Length, 0xFF padding of the last sector) do not matter,
   * while a short or corrupted package fails its CRC.
   */
  #unpack(image: Uint8Array | null): string | null {
    if (!image || image.length < 96) return null;
    if (image[0] !== 0x52 || image[1] !== 0x42 || image[2] !== 0x4c || image[3] !== 0) return null;
    const dv = new DataView(image.buffer, image.byteOffset, 96);
    if (crc32Zlib(image.subarray(0, 92)) !== dv.getUint32(92, true)) return null;
    const pkgLen = dv.getUint32(88, true);
    if (image.length < 96 + pkgLen) return null;
    const pkg = image.subarray(96, 96 + pkgLen);
    if (crc32Zlib(pkg) !== dv.getUint32(76, true)) return null;
    const marker = readSimMarker(pkg);
    if (!marker || marker.chip !== this.chip) return null; // wrong platform: refused, old app boots
    return marker.version;
  }

  /**
   * A reboot (bk_reboot) is a power cut as far as the network knows: no DISCONNECT, no TCP FIN. A live
   * MQTT connection is left hanging, so the broker publishes the will only after its keep-alive
   * (1.5 × 100 s, src/mqtt/new_mqtt.c mqtt_client_info) or when the unit connects again with its client
   * id and takes the session over.
   */
  #reboot(image: Uint8Array | null): Promise<void> {
    this.#busy = true;
    this.reboots++;
    const client = this.#client;
    this.#client = null;
    if (client) this.#abandon(client);
    const next = this.behaviour === "bad_image" ? null : this.#unpack(image);
    if (this.behaviour === "never_returns") return Promise.resolve();
    this.#later(this.o.bootMs ?? 20, async () => {
      if (next) this.version = next;
      this.#bootAt = Date.now();
      this.#busy = false;
      await this.#connect();
    });
    return Promise.resolve();
  }

  /** Stop talking on a connection without closing it: no PINGREQ, no reads, no FIN (until stop()). */
  #abandon(client: MqttClient) {
    const c = client as unknown as { _destroyKeepaliveManager?: () => void; stream?: { pause(): void } };
    c._destroyKeepaliveManager?.();
    c.stream?.pause();
    client.removeAllListeners("close");
    client.on("close", () => {});
    this.#hanging.add(client);
  }
  #hanging = new Set<MqttClient>();

  /**
   * OpenBeken's check (src/httpserver/http_basic_auth.c, http_basic_auth_eval): only with a web password set; the
   * first header starting `Authorization: Basic ` (case-insensitive) decides; its decoded text must start with
   * `admin:` (case-insensitive) and the rest equal the password in its first 32 characters (strncmp 32).
   * rest_interface.c registers /api/ with auth required, so /api/info needs it too.
   */
  #authorised(req: Request): boolean {
    const pw = this.o.webPassword;
    if (!pw) return true;
    const h = req.headers.get("authorization");
    if (!h || !/^basic /i.test(h)) return false;
    let text: string;
    try {
      text = atob(h.slice(6).trim());
    } catch {
      return false;
    }
    if (text.length > 255 || text.slice(0, 6).toLowerCase() !== "admin:") return false;
    return text.slice(6, 6 + 32) === pw.slice(0, 32);
  }

  async #serve(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/api/") && !this.#authorised(req)) {
      await req.body?.cancel();
      // http_basic_auth_run: 401 with the realm, Connection: close
      return new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="OpenBeken HTTP Server"', connection: "close" },
      });
    }
    const json = (v: unknown) =>
      new Response(JSON.stringify(v), {
        headers: { "content-type": "application/json", "access-control-allow-origin": "*", connection: "close" },
      });
    if (url.pathname === "/api/info") {
      return json({
        uptime_s: Math.floor((Date.now() - this.#bootAt) / 1000),
        build: `Built on ${BUILD_DATE} version ${this.version}`,
        ip: "127.0.0.1",
        mac: this.mac,
        flags: "1024",
        mqtthost: this.#brokerUrl.replace(/^mqtt:\/\//, ""),
        mqtttopic: this.topic,
        chipset: this.chip,
        webapp: "https://openbekeniot.github.io/webapp/",
        shortName: this.topic,
        startcmd: "",
        supportsSSDP: 1,
        supportsClientDeviceDB: true,
      });
    }
    if (url.pathname === "/api/ota" && req.method === "POST") {
      const body = new Uint8Array(await req.arrayBuffer());
      this.httpOtaUploads++;
      this.#pendingImage = body;
      return json({ size: body.length });
    }
    if (url.pathname === "/api/reboot" && req.method === "POST") {
      await req.body?.cancel();
      const image = this.#pendingImage;
      this.#pendingImage = null;
      this.#later(this.o.rebootDelayMs ?? 0, () => this.#reboot(image));
      return json({ reboot: 3 });
    }
    await req.body?.cancel();
    return new Response("Not found", { status: 404 });
  }

  async stop() {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#client?.endAsync(true).catch(() => {});
    this.#client = null;
    for (const c of this.#hanging) c.end(true);
    this.#hanging.clear();
    await this.#http?.shutdown();
  }
}

export interface ObkFleetOptions extends Omit<ObkSimOptions, "index" | "behaviour"> {
  count: number;
  brokerUrl: string;
  /** first MAC index (several fleets on one broker) */
  firstIndex?: number;
  /** behaviour per unit index (default ok) */
  behaviourOf?: (i: number) => ObkBehaviour;
  /** connections opened at once */
  concurrency?: number;
}

export class ObkSimFleet {
  private constructor(readonly units: ObkSimUnit[]) {}

  static async start(o: ObkFleetOptions): Promise<ObkSimFleet> {
    const units = Array.from(
      { length: o.count },
      (_, i) => new ObkSimUnit({ ...o, index: (o.firstIndex ?? 1) + i, behaviour: o.behaviourOf?.(i) ?? "ok" }),
    );
    const fleet = new ObkSimFleet(units);
    const c = o.concurrency ?? 50;
    try {
      for (let i = 0; i < units.length; i += c) {
        await Promise.all(units.slice(i, i + c).map((u) => u.start(o.brokerUrl)));
      }
    } catch (e) {
      await fleet.stop();
      throw e;
    }
    return fleet;
  }

  byTopic(topic: string) {
    return this.units.find((u) => u.topic === topic);
  }

  async stop() {
    await Promise.all(this.units.map((u) => u.stop()));
  }
}

/**
 * `deno task sim openbeken --count 5 --mqtt mqtt://127.0.0.1:1883 [--version 1.18.299] [--chip BK7231N] [--fail 0.1]
 *   [--web-password <pw>]`
 * With $OBK_UNIT_SECRET (`deno task admin unit-secret`) each unit signs in with its flash-time credential.
 */
export async function runSimCli(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      count: { type: "string", default: "5" },
      mqtt: { type: "string", default: "mqtt://127.0.0.1:1883" },
      version: { type: "string", default: "1.18.299" },
      chip: { type: "string", default: "BK7231N" },
      fail: { type: "string", default: "0" },
      interval: { type: "string", default: "1000" },
      first: { type: "string", default: "1" },
      "boot-ms": { type: "string", default: "3000" },
      "reboot-delay-ms": { type: "string", default: "1000" },
      "item-gap-ms": { type: "string", default: "1000" },
      "no-http": { type: "boolean", default: false },
      "web-password": { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  const failEvery = Number(values.fail) > 0 ? Math.round(1 / Number(values.fail)) : 0;
  const secret = Deno.env.get("OBK_UNIT_SECRET");
  const fleet = await ObkSimFleet.start({
    count: Number(values.count),
    brokerUrl: values.mqtt!,
    version: values.version,
    chip: values.chip as "BK7231N" | "BK7231T",
    firstIndex: Number(values.first),
    http: !values["no-http"],
    webPassword: values["web-password"],
    bootMs: Number(values["boot-ms"]),
    rebootDelayMs: Number(values["reboot-delay-ms"]),
    itemGapMs: Number(values["item-gap-ms"]),
    meterIntervalMs: Number(values.interval),
    concurrency: 100,
    behaviourOf: (i) => (failEvery && i % failEvery === failEvery - 1 ? "bad_image" : "ok"),
    credentials: secret
      ? async (t) => {
        const c = await unitMqttCredentials(secret, t);
        return { username: c.user, password: c.password };
      }
      : undefined,
  });
  console.log(`openbeken: ${fleet.units.length} simulated units on ${values.mqtt}`);
  if (!values.quiet) {
    for (const u of fleet.units) {
      console.log(`  ${u.topic} mac ${u.mac} ${u.chip} ${u.version} http 127.0.0.1:${u.httpPort} ${u.behaviour}`);
    }
  }
  const stop = async () => {
    await fleet.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
