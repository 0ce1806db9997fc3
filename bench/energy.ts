/**
 * `deno task bench energy [--units 100] [--days 2] [--messages 20000] [--broker embedded|mosquitto] [--only storage|query|ingest]`
 *
 * 1. Storage: bytes per unit per day in the KV file, raw readings (kept for the
 *    retention window) and rollups (kept forever) measured separately.
 * 2. Queries from KV: hourly energy of 100 units over one year (as one site's
 *    rollup, and as 100 per-unit scans), daily energy of the fleet over 5 years.
 * 3. Ingest: OpenBeken text messages vs agents' CBOR batches through the real
 *    broker into KV, readings per second and the ratio.
 * Prints figures; asserts nothing (targets: yearly query < 200 ms, OBK ≥ ½ CBOR).
 */
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { startServer } from "../server/app.ts";
import { configFromEnv } from "../server/config.ts";
import { addReadings } from "../server/meters/store.ts";
import { compactLog } from "../server/history/store.ts";
import { energySeries, hourlyDense, packClosedMonths, rollupKey } from "../server/energy/store.ts";
import { UTC } from "../shared/zone.ts";
import { issueAgentToken, issueDeviceCredential } from "../server/auth/tokens.ts";
import { EnergyAccountant } from "../server/energy/accountant.ts";
import { createLogger } from "../shared/log.ts";
import { encodeTelemetryBatch, type Reading } from "../shared/telemetry.ts";
import { topics } from "../shared/topics.ts";
import { startMosquitto } from "../tests/helpers/mosquitto.ts";

const log = createLogger({ level: "error" });
const HOUR = 3600_000, DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

function fmtBytes(n: number) {
  return n > 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

async function fileSize(path: string): Promise<number> {
  let n = 0;
  for (const suffix of ["", "-wal", "-shm"]) n += await Deno.stat(path + suffix).then((s) => s.size).catch(() => 0);
  return n;
}

/** A day of one unit at OBK's cadence: power every 5 s (on change), counter every 60 s. */
async function storage(dir: string, units: number, days: number) {
  const rawPath = `${dir}/raw.kv`, rollPath = `${dir}/rollups.kv`;
  const raw = await Deno.openKv(rawPath);
  const roll = await Deno.openKv(rollPath);
  const baseRaw = await fileSize(rawPath), baseRoll = await fileSize(rollPath);
  const acc = new EnergyAccountant(roll, { log });
  let readings = 0;
  for (let u = 0; u < units; u++) {
    const id = `obk${String(u).padStart(8, "0")}`;
    let batch: Reading[] = [];
    let wh = 1000 * u;
    for (let t = T0; t < T0 + days * DAY; t += 5000) {
      const power = 100 + 50 * Math.sin(t / 3600_000);
      wh += power * 5 / 3600;
      const r: Reading = {
        deviceId: id,
        ts: t,
        voltage: 230,
        current: power / 230,
        power,
        energyWh: Math.round(wh * 1000) / 1000,
      };
      batch.push(r);
      readings++;
      if (batch.length === 400) {
        const op = raw.atomic();
        addReadings(op, batch, t);
        await op.commit();
        acc.submit(
          batch.map((x, i) => ({
            deviceId: x.deviceId,
            ts: x.ts,
            powerW: x.power,
            counterWh: i % 12 === 0 ? x.energyWh : null,
            hasCounter: true,
          })),
        );
        batch = [];
      }
    }
    if (batch.length) {
      const op = raw.atomic();
      addReadings(op, batch, 0);
      await op.commit();
    }
    // history as it is kept: per-meter blocks (the server's compactor does this every few seconds)
    while ((await compactLog(raw)).entries > 0);
  }
  await acc.idle();
  raw.close();
  roll.close();
  const rawBytes = (await fileSize(rawPath)) - baseRaw, rollBytes = (await fileSize(rollPath)) - baseRoll;
  const unitDays = units * days;
  console.log(`storage (${units} units × ${days} days, ${readings} readings at 1 per 5 s, SQLite file growth):`);
  console.log(
    `  raw readings   ${fmtBytes(rawBytes / unitDays)} per unit per day  (kept ${7} days by default → ${
      fmtBytes(rawBytes / unitDays * 7)
    } per unit)`,
  );
  console.log(
    `  rollups        ${
      fmtBytes(rollBytes / unitDays)
    } per unit per day  (minute/hour/day/month × unit+fleet, kept forever: ${
      fmtBytes(rollBytes / unitDays * 365)
    } per unit-year)`,
  );
}

async function queries(dir: string, units: number) {
  const path = `${dir}/query.kv`;
  const kv = await Deno.openKv(path);
  // a year of hourly rollups for each unit and for their site, five years of fleet days (written directly: same keys as ingest)
  const hours = 365 * 24;
  let op = kv.atomic(), n = 0;
  const put = async (key: Deno.KvKey, mwh: number) => {
    op.set(key, new Deno.KvU64(BigInt(mwh)));
    if (++n % 1000 === 0) {
      await op.commit();
      op = kv.atomic();
    }
  };
  const t = performance.now();
  for (let u = 0; u < units; u++) {
    const months = new Map<number, number>();
    for (let h = 0; h < hours; h++) {
      const mwh = 100_000 + u + h, ts = T0 + h * HOUR;
      await put(rollupKey("unit", `u${u}`, "hour", ts), mwh);
      const mo = Date.UTC(new Date(ts).getUTCFullYear(), new Date(ts).getUTCMonth(), 1);
      months.set(mo, (months.get(mo) ?? 0) + mwh);
    }
    for (const [mo, mwh] of months) await put(rollupKey("unit", `u${u}`, "month", mo), mwh);
  }
  const siteMonths = new Map<number, number>();
  for (let h = 0; h < hours; h++) {
    const ts = T0 + h * HOUR, mo = Date.UTC(new Date(ts).getUTCFullYear(), new Date(ts).getUTCMonth(), 1);
    await put(rollupKey("site", "site-1", "hour", ts), 1e7 + h);
    siteMonths.set(mo, (siteMonths.get(mo) ?? 0) + 1e7 + h);
  }
  for (const [mo, mwh] of siteMonths) await put(rollupKey("site", "site-1", "month", mo), mwh);
  for (let d = 0; d < 5 * 366; d++) await put(rollupKey("fleet", "all", "day", T0 - 4 * 366 * DAY + d * DAY), 1e9 + d);
  await op.commit();
  console.log(`query data: ${n} rollup keys written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // what the server's energy extension does at start and every hour: pack closed months ahead of any query
  const tp = performance.now();
  await packClosedMonths(
    kv,
    [
      ...Array.from({ length: units }, (_, u) => ({ scope: "unit" as const, id: `u${u}` })),
      { scope: "site", id: "site-1" },
    ],
    UTC,
    T0 + 400 * DAY,
  );
  console.log(
    `month packs built in the background (as the server does once a month has closed): ${
      ((performance.now() - tp) / 1000).toFixed(1)
    } s`,
  );

  const time = async (label: string, fn: () => Promise<number>) => {
    const s0 = performance.now();
    await fn(); // first run (cold: nothing read yet in this process; the packs were built in the background)
    const first = performance.now() - s0;
    let best = Infinity, rows = 0;
    for (let i = 0; i < 3; i++) {
      const s = performance.now();
      rows = await fn();
      best = Math.min(best, performance.now() - s);
    }
    console.log(
      `  ${label.padEnd(72)} ${best.toFixed(1).padStart(8)} ms  (${rows} rows; first run ${first.toFixed(0)} ms)`,
    );
  };
  console.log("queries (best of 3):");
  await time(
    `hourly energy, ${units} units as one site, 1 year (site rollup)`,
    async () => (await energySeries(kv, "site", "site-1", "hour", T0, T0 + 365 * DAY, { now: T0 + 400 * DAY })).length,
  );
  await time(`hourly energy, ${units} units one by one, 1 year (month packs)`, async () => {
    const all = await Promise.all(
      Array.from(
        { length: units },
        (_, u) => energySeries(kv, "unit", `u${u}`, "hour", T0, T0 + 365 * DAY, { now: T0 + 400 * DAY }),
      ),
    );
    return all.reduce((s, x) => s + x.length, 0);
  });
  await time(`hourly energy, ${units} units one by one, 1 year (month packs, dense arrays)`, async () => {
    const all = await Promise.all(
      Array.from(
        { length: units },
        (_, u) => hourlyDense(kv, "unit", `u${u}`, T0, T0 + 365 * DAY, { now: T0 + 400 * DAY }),
      ),
    );
    return all.reduce((s, x) => s + x.length, 0);
  });
  await time(
    "daily energy of the fleet, 5 years (one scan)",
    async () => (await energySeries(kv, "fleet", "all", "day", T0 - 4 * 366 * DAY, T0 + 366 * DAY)).length,
  );
  kv.close();
}

async function ingest(dir: string, messages: number, broker: string) {
  // --broker mosquitto: the external broker a larger install would run (no embedded auth guard then)
  const mosq = broker === "mosquitto" ? await startMosquitto() : null;
  const server = await startServer(
    {
      ...configFromEnv({ DATA_DIR: `${dir}/srv` }),
      port: 0,
      otaHttpPort: 0,
      embeddedMqttPort: 0,
      logLevel: "error",
      instanceId: "bench",
      mqttUrl: mosq?.url ?? null,
    },
    { log, listen: false },
  );
  const ctx = server.ctx;
  const url = mosq?.url ?? ctx.broker!.url;
  try {
    // OpenBeken: 100 units, alternating power and counter messages (one reading each)
    let obkDone = 0;
    const offObk = ctx.bus.on("openbeken.committed", (e) => void (obkDone += e.samples.length));
    const units = 100;
    // one connection per unit, with its own credential, as deployed units connect
    const topicOf = (u: number) => `obkB${String(u).padStart(7, "0")}`;
    const clients = await Promise.all(Array.from({ length: units }, async (_, u) => {
      const cred = await issueDeviceCredential(ctx.kv, { topics: [topicOf(u)], createdBy: "bench" });
      return await mqtt.connectAsync(url, {
        clientId: topicOf(u),
        username: cred!.username,
        password: cred!.password,
        protocolVersion: 4,
      });
    }));
    const t1 = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < messages; i++) {
      const u = i % units, round = Math.floor(i / units);
      const topic = round % 2 ? `${topicOf(u)}/energycounter/get` : `${topicOf(u)}/power/get`;
      const payload = round % 2 ? (1000 + round * 0.01).toFixed(3) : (100 + (round % 7)).toFixed(2);
      sends.push(clients[u].publishAsync(topic, payload, { qos: 0 }));
      if (sends.length >= 2000) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
    while (obkDone < messages && performance.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 5));
    const obkMs = performance.now() - t1;
    offObk();
    await Promise.all(clients.map((c) => c.endAsync()));

    // agents: CBOR batches of 100 readings (their usual size at 1 Hz × 100 meters)
    let cborDone = 0;
    const offCbor = ctx.bus.on("telemetry.committed", (e) => void (cborDone += e.readings.length));
    const { token } = await issueAgentToken(ctx.kv, { agentId: "bench-agent", createdBy: "bench" });
    const agent = await mqtt.connectAsync(url, {
      clientId: "meterfleet-agent-bench-agent",
      username: "bench-agent",
      password: token,
      protocolVersion: 4,
    });
    const per = 100, batches = Math.ceil(messages / per);
    const payloads = Array.from({ length: batches }, (_, seq) =>
      encodeTelemetryBatch({
        v: 1,
        agentId: "bench-agent",
        seq,
        readings: Array.from({ length: per }, (_, k) => ({
          deviceId: `din-${String(k).padStart(3, "0")}`,
          ts: T0 + seq * 1000 + k,
          voltage: 230,
          current: 0.5,
          power: 115,
          energyWh: 1000 + seq * 0.032,
        })),
      }));
    const t2 = performance.now();
    for (const p of payloads) await agent.publishAsync(topics.telemetry("bench-agent"), Buffer.from(p), { qos: 1 });
    while (cborDone < batches * per && performance.now() - t2 < 120_000) await new Promise((r) => setTimeout(r, 5));
    const cborMs = performance.now() - t2;
    offCbor();
    await agent.endAsync();

    // the server's own path without the broker: messages handed to the server's MQTT client as if delivered
    const inject = (topic: string, payload: Uint8Array | string) =>
      ctx.mqtt.client.emit("message", topic, Buffer.from(payload), { topic } as never);
    let obkDirect = 0;
    const offD1 = ctx.bus.on("openbeken.committed", (e) => void (obkDirect += e.samples.length));
    const t3 = performance.now();
    for (let i = 0; i < messages; i++) {
      const u = i % units, round = 1000 + Math.floor(i / units);
      inject(
        round % 2 ? `${topicOf(u)}/energycounter/get` : `${topicOf(u)}/power/get`,
        round % 2 ? (1000 + round * 0.01).toFixed(3) : (100 + (round % 7)).toFixed(2),
      );
      if (i % 2000 === 1999) await new Promise((r) => setTimeout(r, 0)); // let the writer run, as socket reads would
    }
    while (obkDirect < messages && performance.now() - t3 < 120_000) await new Promise((r) => setTimeout(r, 2));
    const obkDirectMs = performance.now() - t3;
    offD1();
    let cborDirect = 0;
    const offD2 = ctx.bus.on("telemetry.committed", (e) => void (cborDirect += e.readings.length));
    const t4 = performance.now();
    for (let k = 0; k < batches; k++) {
      const p = encodeTelemetryBatch({
        v: 1,
        agentId: "bench-agent",
        seq: batches + k,
        readings: Array.from(
          { length: per },
          (_, j) => ({
            deviceId: `din-${String(j).padStart(3, "0")}`,
            ts: T0 + (batches + k) * 1000 + j,
            voltage: 230,
            current: 0.5,
            power: 115,
            energyWh: 2000 + k * 0.032,
          }),
        ),
      });
      inject(topics.telemetry("bench-agent"), p);
      if (k % 20 === 19) await new Promise((r) => setTimeout(r, 0));
    }
    while (cborDirect < batches * per && performance.now() - t4 < 120_000) await new Promise((r) => setTimeout(r, 2));
    const cborDirectMs = performance.now() - t4;
    offD2();

    const obkRate = obkDone / (obkMs / 1000), cborRate = cborDone / (cborMs / 1000);
    const obkD = obkDirect / (obkDirectMs / 1000), cborD = cborDirect / (cborDirectMs / 1000);
    console.log("server ingest path only (messages handed to the server's MQTT client; no broker, no auth):");
    console.log(`  OpenBeken text                                          ${obkD.toFixed(0).padStart(8)} readings/s`);
    console.log(`  agents' CBOR (incl. encoding the batches)               ${cborD.toFixed(0).padStart(8)} readings/s`);
    console.log(`  ratio OpenBeken / CBOR: ${(obkD / cborD).toFixed(2)}`);
    console.log(
      `end to end: units/agent → ${
        mosq ? "Mosquitto" : "embedded aedes (per-client auth)"
      } → server → KV (readings committed per second):`,
    );
    console.log(
      `  OpenBeken text, ${messages} messages from ${units} units (QoS 0) ${
        obkRate.toFixed(0).padStart(8)
      } readings/s (${obkDone} in ${(obkMs / 1000).toFixed(2)} s)`,
    );
    console.log(
      `  agents' CBOR, ${batches} batches × ${per} readings          ${
        cborRate.toFixed(0).padStart(8)
      } readings/s (${cborDone} in ${(cborMs / 1000).toFixed(2)} s)`,
    );
    console.log(`  ratio OpenBeken / CBOR: ${(obkRate / cborRate).toFixed(2)} (target ≥ 0.5)`);
  } finally {
    await server.close();
    await mosq?.stop();
  }
}

export default async function (args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      units: { type: "string", default: "100" },
      days: { type: "string", default: "2" },
      messages: { type: "string", default: "20000" },
      only: { type: "string" },
      broker: { type: "string", default: "embedded" },
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-bench-energy-" });
  try {
    const only = values.only;
    if (!only || only === "storage") await storage(dir, 10, Number(values.days));
    if (!only || only === "query") await queries(dir, Number(values.units));
    if (!only || only === "ingest") await ingest(dir, Number(values.messages), values.broker!);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
