/**
 * `deno task bench ota [--units 1000] [--tick 100]`: schedule and drive one
 * OTA rollout over N simulated OpenBeken units. The units run in a child
 * process (`deno task sim openbeken`), so this process's CPU time is the
 * server's (KV, embedded broker, ingest, engine, HTTP image serving).
 * Prints: time to register units, time to create the rollout (target
 * selection + groups + N device records), wall time and server CPU to
 * verified, and per unit the command→verified latency split into its legs.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { startServer } from "../server/app.ts";
import { configFromEnv } from "../server/config.ts";
import { defaultExtensions } from "../server/extensions.ts";
import { inventoryExtensions } from "../server/inventory/extensions.ts";
import { createUnit, listUnits } from "../server/inventory/units.ts";
import { registerFirmware } from "../server/firmware/store.ts";
import { createRollout, getRollout, listDevices, rolloutInput } from "../server/ota/store.ts";
import { listUnitPresence } from "../server/openbeken/presence.ts";
import { ObkSimUnit } from "../edge-agent/sim/openbeken.ts";
import { buildFakeRbl, fakeRblName } from "../edge-agent/sim/obk-image.ts";
import { createLogger } from "../shared/log.ts";
import { unitSecret } from "../server/auth/tokens.ts";
import { UTC } from "../shared/zone.ts";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export default async function (args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      units: { type: "string", default: "1000" },
      tick: { type: "string", default: "100" },
      "boot-ms": { type: "string", default: "200" },
      "image-kb": { type: "string", default: "64" },
      /** devices per minute; the default sends as fast as the engine can (throughput) */
      pacing: { type: "string", default: "100000" },
    },
  });
  const n = Number(values.units);
  const tickMs = Number(values.tick);
  const bootMs = Number(values["boot-ms"]);
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-bench-ota-" });
  const mine = inventoryExtensions({ tickMs });
  const names = new Set(mine.map((e) => e.name));
  const server = await startServer(
    { ...configFromEnv({ DATA_DIR: dir }), port: 0, otaHttpPort: 0, embeddedMqttPort: 0, logLevel: "error" },
    {
      extensions: [...defaultExtensions().filter((e) => !names.has(e.name)), ...mine],
      log: createLogger({ level: "error" }),
    },
  );
  const brokerUrl = server.ctx.broker!.url;
  const kv = server.ctx.kv;
  let sim: Deno.ChildProcess | null = null;
  try {
    console.log(
      `bench ota: ${n} simulated OpenBeken units, engine tick ${tickMs} ms, pacing ${values.pacing}/min, simulated boot ${bootMs} ms, image ${
        values["image-kb"]
      } KiB`,
    );
    let t = performance.now();
    for (let i = 0; i < n; i++) {
      const u = new ObkSimUnit({ index: i + 1 }); // same MAC/topic scheme as the child's units
      await createUnit(kv, {
        mac: u.mac,
        chip: u.chip,
        topic: u.topic,
        model: "zmai-90",
        site: `site-${i % 10}`,
        tags: i % 50 === 0 ? ["canary"] : [],
      }, { by: "bench" });
    }
    console.log(
      `  register ${n} units in inventory: ${(performance.now() - t).toFixed(0)} ms (${
        ((performance.now() - t) / n).toFixed(2)
      } ms/unit)`,
    );

    sim = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../edge-agent/sim/main.ts", import.meta.url).pathname,
        "openbeken",
        "--count",
        String(n),
        "--mqtt",
        brokerUrl,
        "--interval",
        "0",
        "--boot-ms",
        String(bootMs),
        "--reboot-delay-ms",
        "0",
        "--item-gap-ms",
        "0",
        "--no-http",
        "--quiet",
      ],
      // units sign in with flash-time credentials derived from the fleet secret (server/auth)
      env: { OBK_UNIT_SECRET: (await unitSecret(kv, true))! },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    t = performance.now();
    while ((await listUnitPresence(kv)).filter((p) => p.online && p.version && p.uptimeS !== null).length < n) {
      if (performance.now() - t > 120_000) throw new Error("units did not all come online");
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(
      `  ${n} units online with their version in presence: ${(performance.now() - t).toFixed(0)} ms after spawn`,
    );

    const img = buildFakeRbl({ chip: "BK7231N", version: "1.18.300", size: Number(values["image-kb"]) * 1024 });
    const { firmware } = await registerFirmware(kv, {
      filename: fakeRblName("BK7231N", "1.18.300"),
      bytes: img,
      by: "bench",
    });

    const cpu0 = cpuMs();
    t = performance.now();
    const input = rolloutInput.parse({
      name: "bench",
      firmwareId: firmware.id,
      pacingPerMin: Number(values.pacing),
      verifyTimeoutMs: 120_000,
      groups: [{ name: "canary", percent: 1, successThreshold: 90, errorThreshold: 10 }, {
        name: "rest",
        percent: 99,
        successThreshold: 90,
        errorThreshold: 10,
      }],
    });
    const r = await createRollout(kv, { ...input, createdBy: "bench" }, firmware, await listUnits(kv, {}), {
      now: Date.now(),
      baseUrl: server.url,
      zone: UTC,
    });
    const scheduleMs = performance.now() - t;
    const scheduleCpu = cpuMs() - cpu0;
    console.log(
      `  schedule (select ${n} targets, groups, ${n} device records): ${scheduleMs.toFixed(0)} ms wall, ${
        scheduleCpu.toFixed(0)
      } ms server CPU`,
    );

    let status = "";
    while (status !== "finished") {
      if (performance.now() - t > 600_000) throw new Error("rollout did not finish");
      await new Promise((res) => setTimeout(res, 100));
      const cur = (await getRollout(kv, r.id)).value!;
      status = cur.status;
      if (status === "paused") throw new Error(`rollout paused: ${cur.pauseReason}`);
    }
    const wall = performance.now() - t;
    const cpu = cpuMs() - cpu0;
    const devices = (await listDevices(kv, r.id)).map((e) => e.value);
    const at = (d: (typeof devices)[0], s: string) => d.log.find((l) => l.state === s)?.at ?? NaN;
    const legs = {
      total: [] as number[],
      cmdToDownload: [] as number[],
      transfer: [] as number[],
      rebootToVerified: [] as number[],
    };
    for (const d of devices) {
      legs.total.push(at(d, "verified") - at(d, "commanded"));
      legs.cmdToDownload.push(at(d, "downloading") - at(d, "commanded"));
      legs.transfer.push(at(d, "rebooting") - at(d, "downloading"));
      legs.rebootToVerified.push(at(d, "verified") - at(d, "rebooting"));
    }
    const verified = devices.filter((d) => d.state === "verified").length;
    console.log(
      `  drive to finished: ${(wall / 1000).toFixed(2)} s wall, ${(cpu / 1000).toFixed(2)} s server CPU (${
        ((cpu / wall) * 100).toFixed(0)
      } % of one core), ${verified}/${n} verified`,
    );
    console.log(`  server CPU per unit (command, serve image, ingest reconnect, verify): ${(cpu / n).toFixed(2)} ms`);
    const row = (name: string, xs: number[]) =>
      console.log(
        `  ${name.padEnd(44)} p50 ${pct(xs, 50).toFixed(0).padStart(5)} ms   p95 ${
          pct(xs, 95).toFixed(0).padStart(5)
        } ms`,
      );
    row("command → verified", legs.total);
    row("  command → image requested (MQTT + unit)", legs.cmdToDownload);
    row("  image transfer", legs.transfer);
    row(`  image sent → verified (incl. ${bootMs} ms boot)`, legs.rebootToVerified);
    const overhead = legs.total.map((x) => x - bootMs);
    row("server-added overhead (command→verified − boot)", overhead);
  } finally {
    if (sim) {
      sim.kill("SIGTERM");
      await sim.status;
    }
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
