/**
 * `deno task bench decode [--seconds N] [--ports N]`
 * 1. Decoder throughput, frames/s: a TuyaMCU stream (the SPM02 seed frames, on
 *    repeat, with noise between bursts) and a BL0942 packet stream, fed in 4 KB chunks.
 * 2. Agent CPU per polled port: N simulated meters on ptys in a child process,
 *    N pollers here, CPU time of this process (/proc/self/stat) over wall time.
 */
import { TuyaFrameParser } from "../shared/tuyamcu/frame.ts";
import { decodeDatapoints, fromHex } from "../shared/tuyamcu/dp.ts";
import { Bl0942Parser, bl0942Values } from "../shared/meterchips/bl0942.ts";
import { pollerForProfile } from "../edge-agent/drivers/from_profile.ts";
import type { Poller } from "../edge-agent/drivers/poller.ts";
import { getProfile } from "../shared/profiles/mod.ts";

const SPM = [
  "55AA030000010104",
  "55AA0307000C07000008090C0000D100001B25",
  "55AA0307000C08000008090E0001970000360A",
  "55AA03070008200200040000138AD4",
  "55AA030700081D0200040000005C90",
  "55AA03070008320200040000003B84",
  "55AA03070008660200040000090D93",
  "55AA030700086702000400000062E0",
  "55AA03070008680200040000000D8C",
];

function repeatStream(unit: Uint8Array, bytes: number): Uint8Array {
  const n = Math.ceil(bytes / unit.length);
  const out = new Uint8Array(n * unit.length);
  for (let i = 0; i < n; i++) out.set(unit, i * unit.length);
  return out;
}

function throughput(name: string, stream: Uint8Array, feed: (chunk: Uint8Array) => number) {
  const t0 = performance.now();
  let frames = 0;
  for (let o = 0; o < stream.length; o += 4096) frames += feed(stream.subarray(o, o + 4096));
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${name.padEnd(34)} ${Math.round(frames / s).toLocaleString("en").padStart(12)} frames/s  (${frames} frames, ${
      (stream.length / s / 1e6).toFixed(1)
    } MB/s)`,
  );
}

function bl0942Unit(): Uint8Array {
  const le24 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff];
  const b = [
    0x55,
    ...le24(65314),
    ...le24(3493240),
    ...le24(65314),
    ...le24(35880),
    ...le24(1234),
    0x20,
    0x4e,
    0,
    0,
    0,
    0,
  ];
  let s = 0x58;
  for (const x of b) s += x;
  return Uint8Array.from([...b, ~s & 0xff]);
}

function cpuSeconds(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
}

async function cpuPerPort(kind: "tuyamcu" | "bl0942", ports: number, seconds: number) {
  const root = new URL("../", import.meta.url).href;
  const code = `
    const { PhysicalMeter } = await import("${root}edge-agent/sim/physics.ts");
    const { TuyaMcuSim } = await import("${root}edge-agent/sim/tuyamcu.ts");
    const { Bl0942Sim } = await import("${root}edge-agent/sim/bl0942.ts");
    const sims = [];
    for (let i = 0; i < ${ports}; i++) {
      const s = "${kind}" === "tuyamcu"
        ? new TuyaMcuSim("spm02", new PhysicalMeter({ loadW: [13, 27, 54], powerFactor: 0.59 }), undefined, { reportMs: 1000 })
        : new Bl0942Sim(new PhysicalMeter({ loadW: 60 }));
      sims.push(s.start());
      console.log(s.path);
    }
    console.log("ready");
    await new Promise(() => {});`;
  const child = new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("simulator child exited");
    text += value;
  }
  const paths = text.split("\n").filter((l) => l.startsWith("/dev/"));
  const profile = getProfile(kind === "tuyamcu" ? "spm02-v2" : "pziot-e01");
  let readings = 0;
  const pollers: Poller[] = paths.map((port, i) => pollerForProfile(profile, { port, deviceId: `bench-${i}` }));
  for (const p of pollers) await p.start({ reading: () => readings++, event: () => {} });
  await new Promise((r) => setTimeout(r, 2000)); // handshakes done
  const c0 = cpuSeconds(), w0 = performance.now(), r0 = readings;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuSeconds() - c0, wall = (performance.now() - w0) / 1000;
  for (const p of pollers) await p.stop();
  child.kill("SIGTERM");
  await child.status;
  await reader.cancel().catch(() => {});
  const perPort = (cpu / wall / ports) * 100;
  console.log(
    `${kind.padEnd(8)} ${String(ports).padStart(3)} ports: agent CPU ${(cpu / wall * 100).toFixed(2)} % of a core, ${
      perPort.toFixed(3)
    } % per port, ` +
      `${((readings - r0) / wall).toFixed(1)} readings/s → ${
        perPort > 0
          ? `~${Math.floor(100 / perPort)}`
          : `>${Math.floor(100 / (1 / (wall * 100) * 100 / ports))} (below the 10 ms tick)`
      } ports per core (CPU bound)`,
  );
}

export default async function (args: string[]) {
  const seconds = Number(args[args.indexOf("--seconds") + 1] || 10) || 10;
  const ports = Number(args[args.indexOf("--ports") + 1] || 8) || 8;
  console.log("Decoder throughput (4 KB chunks, single thread):");
  const tuyaUnit = fromHex(SPM.join("") + "00FF13");
  throughput(
    "TuyaMCU frames + DPs (SPM02 log)",
    repeatStream(tuyaUnit, 16e6),
    (() => {
      const p = new TuyaFrameParser();
      return (c: Uint8Array) => {
        let n = 0;
        for (const e of p.push(c)) {
          if (e.kind === "frame") {
            if (e.frame.command === 7) decodeDatapoints(e.frame.data);
            n++;
          }
        }
        return n;
      };
    })(),
  );
  throughput(
    "BL0942 read-all packets",
    repeatStream(bl0942Unit(), 16e6),
    (() => {
      const p = new Bl0942Parser();
      return (c: Uint8Array) => {
        let n = 0;
        for (const e of p.push(c)) {
          if (e.kind === "packet") {
            bl0942Values(e.packet);
            n++;
          }
        }
        return n;
      };
    })(),
  );
  console.log(`\nAgent CPU per polled port (${ports} ports each, ${seconds} s, simulators in a separate process):`);
  await cpuPerPort("tuyamcu", ports, seconds);
  await cpuPerPort("bl0942", ports, seconds);
}
