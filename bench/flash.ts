/**
 * `deno task bench flash [--quick | --baud N]`: a 2 MB backup and an OpenBeken-sized write
 * (1,150,832 bytes, the N app) against the simulator paced at the real line
 * rate, at 921,600 / 1,500,000 / 2,000,000 baud; then four ports in parallel
 * against one. Each figure is printed beside the line-rate minimum
 * (10 bits per byte, framing included, ../shared/reference/bk7231-bootloader.md §4.3):
 *   read  = 512 sectors × (12 + 4111) bytes
 *   write = sectors × (erase 13+16 + write 4108+15) bytes
 * Write times exclude the simulated SPI erase time (reported by the simulator).
 * Targets: reads ≤ 1.10×, writes ≤ 1.15×, 4 ports ≤ 1.2× one port.
 * Simulators run as separate processes (`deno task sim bk7231 --baud-pacing`),
 * the flasher in this one, as on a real bench.
 */
import { openSerial } from "../edge-agent/serial/mod.ts";
import { Flasher } from "../edge-agent/flash/flasher.ts";
import { createLogger } from "../shared/log.ts";

const ERASE_SECTOR_MS = 40; // typical 4 KiB SPI NOR sector erase; 64 KiB block = 8×
const APP_BYTES = 1_150_832;
const log = createLogger({ level: (Deno.env.get("BENCH_LOG") as "debug") ?? "error" });

interface SimProc {
  path: string;
  stop(): Promise<{ eraseMs: number; busyMs: number }>;
}

async function startSim(chip = "bk7231n"): Promise<SimProc> {
  const root = new URL("../", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}edge-agent/sim/main.ts`,
      "bk7231",
      "--chip",
      chip,
      "--baud-pacing",
      "--erase-ms",
      String(ERASE_SECTOR_MS),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("simulator exited before printing its pty");
    buf += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const path = buf.split("\n")[0].replace(/^pty: /, "").trim();
  return {
    path,
    async stop() {
      child.kill("SIGTERM");
      const [, err] = await Promise.all([child.stdout.cancel(), new Response(child.stderr).text()]);
      await child.status;
      const line = err.trim().split("\n").filter((l) => l.startsWith('{"stats"')).pop();
      const stats = line ? JSON.parse(line).stats : { eraseMs: 0, busyMs: 0 };
      return { eraseMs: stats.eraseMs, busyMs: stats.busyMs };
    },
  };
}

const lineMs = (bytes: number, baud: number) => (bytes * 10 * 1000) / baud;
const readWire = 512 * (12 + 4111);
const writeWire = (len: number) => Math.ceil(len / 4096) * (13 + 16 + 4108 + 15);

function row(what: string, ms: number, minMs: number, target: number) {
  const ratio = ms / minMs;
  console.log(
    `${what.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s   line-rate min ${
      (minMs / 1000).toFixed(2).padStart(6)
    } s   ratio ${ratio.toFixed(3)}  ${ratio <= target ? "ok" : `OVER target ${target}`}`,
  );
}

/**
 * A pty carries no timing, so a simulator that reads a SetBaudRate late (busy machine) may judge it
 * sent at the new rate; a longer switch delay (GUI flasher: 200 ms) makes that unlikely, and one
 * reconnect covers the rest.
 */
async function connect(path: string, baud: number) {
  for (let attempt = 0;; attempt++) {
    const port = await openSerial(path, { baud: 115200 });
    const f = await Flasher.connect(port, {
      baud,
      baudDelayMs: 100,
      log,
      linkTimeoutMs: 10_000,
      commandTimeoutMs: 1000,
    });
    if (f.info.baud === baud) return { port, f };
    await port.close();
    if (attempt === 2) throw new Error(`wanted ${baud}, got ${f.info.baud}`);
  }
}

async function timedBackup(f: Flasher) {
  const t0 = performance.now();
  await f.readRange(0, 0x200000);
  return performance.now() - t0;
}

export default async function (args: string[]) {
  const quick = args.includes("--quick");
  const only = args.indexOf("--baud") >= 0 ? Number(args[args.indexOf("--baud") + 1]) : undefined;
  const bauds = only ? [only] : quick ? [2_000_000] : [921_600, 1_500_000, 2_000_000];
  console.log(
    `flash benchmark: simulator paced at the line rate, erase ${ERASE_SECTOR_MS} ms/4K (excluded from write figures)\n`,
  );
  const image = new Uint8Array(APP_BYTES).map((_, i) => (i * 131 + (i >> 9)) & 0xff);

  for (const baud of bauds) {
    const sim = await startSim();
    const c = await connect(sim.path, baud);
    const readMs = await timedBackup(c.f);
    await c.port.close();
    await sim.stop();
    row(`backup 2 MiB @ ${baud}`, readMs, lineMs(readWire, baud), 1.10);
    // a fresh simulator for the write so its erase time is this write's alone
    const sim2 = await startSim();
    const { port, f } = await connect(sim2.path, baud);
    const t0 = performance.now();
    await f.writeRange(0x11000, image);
    const writeMs = performance.now() - t0;
    await port.close();
    const { eraseMs } = await sim2.stop();
    row(`write ${APP_BYTES} B @ ${baud}`, writeMs - eraseMs, lineMs(writeWire(APP_BYTES), baud), 1.15);
    console.log(
      `${"".padEnd(34)} (raw ${(writeMs / 1000).toFixed(2)} s, of which simulated erase ${
        (eraseMs / 1000).toFixed(2)
      } s)`,
    );
  }

  if (only) return;
  const baud = 2_000_000;
  console.log(`\nparallel backups @ ${baud}:`);
  const one = await startSim();
  const c1 = await connect(one.path, baud);
  const single = await timedBackup(c1.f);
  await c1.port.close();
  await one.stop();
  const sims = await Promise.all([0, 1, 2, 3].map(() => startSim()));
  const conns = await Promise.all(sims.map((s) => connect(s.path, baud)));
  const t0 = performance.now();
  await Promise.all(conns.map((c) => c.f.readRange(0, 0x200000)));
  const four = performance.now() - t0;
  for (const c of conns) await c.port.close();
  for (const s of sims) await s.stop();
  row("1 port, 2 MiB backup", single, lineMs(readWire, baud), 1.10);
  row("4 ports at once, 2 MiB each", four, lineMs(readWire, baud), 1.10);
  const r = four / single;
  console.log(`${"4 ports / 1 port".padEnd(34)} ratio ${r.toFixed(3)}  ${r <= 1.2 ? "ok" : "OVER target 1.2"}`);
}
