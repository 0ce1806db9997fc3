/**
 * `deno task bench inspect [backup.bin ...] [--runs N]`
 * Time to inspect a 2 MiB stock backup (find + decrypt the Tuya store, parse, propose the
 * OpenBeken template). Without files it builds backups with the test encoder: a BL0937 plug,
 * a TuyaMCU meter, a backup with no store (the whole dump is scanned), and a scattered store.
 * Target: < 200 ms per backup, so a 20-port batch is not slowed.
 */
import { inspectBackup, obkProposal } from "../shared/tuya-config/mod.ts";
import { bl0937Plug, dumpWith, tuyaMcuMeter9600 } from "../tests/tuya-config/devices.ts";
import { encodeStore } from "../tests/tuya-config/encoder.ts";
import { generateStockImage } from "../edge-agent/sim/bk7231.ts";

export default async function bench(args: string[]) {
  const runsAt = args.indexOf("--runs");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 50;
  const files = args.filter((a, i) => !a.startsWith("--") && (runsAt < 0 || i !== runsAt + 1));
  const cases: [string, Uint8Array][] = [];
  for (const f of files) cases.push([f, await Deno.readFile(f)]);
  if (!cases.length) {
    const scattered = generateStockImage("bk7231n", "c8:47:8c:00:09:04");
    scattered.set(encodeStore({ entries: tuyaMcuMeter9600, scatter: true, magic: "new" }).bytes, 0x1ee000);
    cases.push(
      ["BL0937 plug (2 MiB)", dumpWith("bk7231n", "c8:47:8c:00:09:01", { entries: bl0937Plug })],
      ["TuyaMCU meter (2 MiB)", dumpWith("bk7231n", "c8:47:8c:00:09:02", { entries: tuyaMcuMeter9600 })],
      ["no store (2 MiB, full scan)", dumpWith("bk7231t", "c8:47:8c:00:09:03", null)],
      ["scattered store (2 MiB)", scattered],
    );
  }
  const target = 200;
  console.log(`inspect-backup, ${runs} runs each (target < ${target} ms per 2 MiB backup)`);
  for (const [name, bytes] of cases) {
    const first0 = performance.now();
    const r = inspectBackup(bytes);
    if (r.found) obkProposal(r);
    const first = performance.now() - first0;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const x = inspectBackup(bytes);
      if (x.found) obkProposal(x);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const p95 = times[Math.floor(times.length * 0.95)];
    console.log(
      `${name.padEnd(32)} first ${first.toFixed(1).padStart(6)} ms  median ${median.toFixed(2).padStart(6)} ms  p95 ${
        p95.toFixed(2).padStart(6)
      } ms  (${(target / Math.max(p95, first)).toFixed(0)}× under target)  ${r.found ? "store found" : r.reason}`,
    );
  }
}
