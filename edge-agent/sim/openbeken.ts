/**
 * Simulated OpenBeken units (the DEVICE side), for tests, benchmarks and the
 * demo. Behaviour follows ../shared/reference/openbeken.md:
 * - MQTT §1: LWT `<topic>/connected` = offline (retain, QoS 1); on connect
 *   `connected` = online (retain, QoS 2), then the self-state items (host,
 *   build, mac, ssid, rssi, uptime, freeheap, ip) trickled one by one; meter
 *   values `<topic>/voltage|current|power|energycounter/get` at QoS 0 with
 *   truncated decimals, energy in Wh; commands on `cmnd/<topic>/+` and the
 *   platform group `cmnd/bekens_n|bekens_t/+`.
 * - OTA §3.1: `ota_http <url>` → graceful MQTT disconnect, download over
 *   HTTP, reboot by itself; `POST /api/ota` (raw body, answers {"size":N},
 *   no reboot) + `POST /api/reboot` ({"reboot":3}); `/api/info`.
 * - Failure modes: a bad, wrong-chip or undecodable package is quietly
 *   ignored by the bootloader and the OLD version boots again; units can be
 *   offline, download slowly, or never come back.
 *
 * Deviation: Deno.serve answers with a proper CRLF status line and
 * Content-Length, not OBK's bare-LF, close-delimited responses.
 * This file formats topics and payloads itself; it does not import the
 * server's parsers (a shared bug must not pass both sides).
 */
import mqtt, { type MqttClient } from "mqtt";
import { parseArgs } from "node:util";
import { crc32Zlib } from "../../shared/bk7231/crc32.ts";
import { readSimMarker } from "./obk-image.ts";
import { OBK_PLATFORM_GROUPS, unitMqttCredentials } from "../../shared/obk-config.ts";

export type ObkBehaviour = "ok" | "bad_image" | "never_returns" | "slow_download" | "offline";

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
  /** meter publish period; 0 = no meter values */
  meterIntervalMs?: number;
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

/** OBK prints with %f then cuts (does not round) to N decimals (openbeken.md §1.2). */
export function truncated(x: number, decimals: number): string {
  const f = 10 ** decimals;
  return (Math.trunc(x * f) / f).toFixed(decimals);
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
  reboots = 0;
  httpPort: number | null = null;
  #client: MqttClient | null = null;
  #http: Deno.HttpServer | null = null;
  #bootAt = Date.now();
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
      await client.subscribeAsync(`cmnd/${this.topic}/+`, { qos: 1 });
      // the platform group topic (a stricter broker ACL may refuse it; OBK carries on without it)
      await client.subscribeAsync(`cmnd/${this.group}/+`, { qos: 1 }).catch(() => {});
      await client.publishAsync(`${this.topic}/connected`, "online", { qos: 2, retain: true });
      await this.#broadcastSelfState(client);
      if (this.o.meterIntervalMs) this.#meterLoop(client);
    } catch {
      // the connection dropped while we were announcing ourselves: the close handler reconnects
      client.end(true);
    }
  }

  #selfState(): [string, string][] {
    const t = this.topic;
    return [
      [`${t}/host`, this.topic],
      [`${t}/build`, `Open${this.chip} ${this.version} ${BUILD_DATE}`],
      [`${t}/mac`, this.mac],
      [`${t}/ssid`, "SimWiFi"],
      [`${t}/rssi`, String(-50 - (this.o.index % 30))],
      [`${t}/uptime`, String(Math.floor((Date.now() - this.#bootAt) / 1000))],
      [`${t}/freeheap`, "95168"],
      [`${t}/ip`, "127.0.0.1"],
    ];
  }

  async #broadcastSelfState(client: MqttClient) {
    for (const [topic, payload] of this.#selfState()) {
      if (!client.connected || this.#client !== client) return;
      await client.publishAsync(topic, payload, { qos: 1 }).catch(() => {});
      if (this.o.itemGapMs) await new Promise((r) => setTimeout(r, this.o.itemGapMs));
    }
  }

  #meterLoop(client: MqttClient) {
    this.#later(this.o.meterIntervalMs!, () => {
      if (this.#client !== client || !client.connected) return;
      const tv = this.o.load?.voltage ?? 228 + Math.random() * 6;
      const tp = this.o.load?.power ?? 40 + (this.o.index % 7) * 30 + Math.random() * 5;
      this.#energyWh += (tp * this.o.meterIntervalMs!) / 3_600_000;
      // the chip's raw counts of the true load, then OBK's Scale (DIVIDE): reading = raw / factor
      this.#latestRaw = {
        voltage: Math.round(tv * COUNTS.voltage),
        current: Math.round((tp / tv) * COUNTS.current),
        power: Math.round(tp * COUNTS.power),
      };
      const v = this.#latestRaw.voltage / this.factors.voltage;
      const i = this.#latestRaw.current / this.factors.current;
      const p = this.#latestRaw.power / this.factors.power;
      const t = this.topic;
      for (
        const [k, val] of [["voltage", truncated(v, 1)], ["current", truncated(i, 3)], ["power", truncated(p, 2)], [
          "energycounter",
          truncated(this.#energyWh, 3),
        ]]
      ) {
        client.publish(`${t}/${k}/get`, val, { qos: 0 });
      }
      this.#meterLoop(client);
    });
  }

  #onCommand(topic: string, payload: string) {
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

  /** `ota_http <url>`: MQTT goes down gracefully (no LWT), download, reboot by itself. */
  async #otaHttp(url: string) {
    if (this.#busy) return;
    this.#busy = true;
    const client = this.#client;
    this.#client = null;
    await client?.endAsync(false).catch(() => {}); // DISCONNECT: the broker keeps the retained "online"
    let image: Uint8Array | null = null;
    try {
      if (this.behaviour === "slow_download") await new Promise((r) => setTimeout(r, this.o.slowDownloadMs ?? 500));
      const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      if (res.ok) image = new Uint8Array(await res.arrayBuffer());
      else await res.body?.cancel();
    } catch {
      image = null;
    }
    if (!image) {
      // download failed: OBK does not reboot; MQTT comes back with the old firmware
      this.#busy = false;
      await this.#connect();
      return;
    }
    await new Promise((r) => setTimeout(r, this.o.rebootDelayMs ?? 0));
    await this.#reboot(image);
  }

  /** The bootloader's view of the OTA partition: a good package for this chip, or null (keep the old app). */
  #unpack(image: Uint8Array | null): string | null {
    if (!image || image.length < 96) return null;
    if (image[0] !== 0x52 || image[1] !== 0x42 || image[2] !== 0x4c || image[3] !== 0) return null;
    const dv = new DataView(image.buffer, image.byteOffset, 96);
    if (crc32Zlib(image.subarray(0, 92)) !== dv.getUint32(92, true)) return null;
    const pkgLen = dv.getUint32(88, true);
    const pkg = image.subarray(96);
    if (pkg.length !== pkgLen || crc32Zlib(pkg) !== dv.getUint32(76, true)) return null;
    const marker = readSimMarker(pkg);
    if (!marker || marker.chip !== this.chip) return null; // wrong platform: refused, old app boots
    return marker.version;
  }

  #reboot(image: Uint8Array | null): Promise<void> {
    this.#busy = true;
    this.reboots++;
    const client = this.#client;
    this.#client = null;
    client?.end(true); // power cut: no DISCONNECT, the broker publishes the LWT
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
      interval: { type: "string", default: "5000" },
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
