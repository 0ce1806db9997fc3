/**
 * Fuzz every decoder in shared/ (bootloader responses, TuyaMCU, meter-chip
 * packets and register protocols, telemetry CBOR, OpenBeken MQTT payloads, RBL
 * headers, OpenBeken config sectors) with random and mutated input. Must hold:
 * no crash other than CodecError, no hang (a worker that stops reporting
 * progress for HANG_MS is terminated and the test fails with the seed and run).
 * FUZZ_RUNS / FUZZ_SEED override the figures; the seed is printed for replay.
 */
import { assert } from "@std/assert";
import { TARGETS } from "./fuzz_targets.ts";
import type { FuzzJob, FuzzReport } from "./fuzz_worker.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 6000);
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? (Date.now() & 0x7fffffff));
/** no progress message for this long = a hang (progress comes every 500 inputs) */
const HANG_MS = 30_000;

let worker: Worker | null = null;
const getWorker = () => worker ??= new Worker(new URL("./fuzz_worker.ts", import.meta.url), { type: "module" });
const dropWorker = () => {
  worker?.terminate();
  worker = null;
};

function runTarget(target: number, seed: number): Promise<Extract<FuzzReport, { kind: "done" }>> {
  const w = getWorker();
  return new Promise((resolve, reject) => {
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    let lastRuns = 0;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        dropWorker();
        reject(new Error(`HANG in ${TARGETS[target].name}: no progress after run ${lastRuns} (seed ${seed})`));
      }, HANG_MS);
    };
    w.onmessage = (ev: MessageEvent<FuzzReport>) => {
      const m = ev.data;
      if (m.kind === "progress") {
        lastRuns = m.runs;
        arm();
        return;
      }
      clearTimeout(watchdog);
      if (m.kind === "crash") {
        dropWorker();
        reject(
          new Error(
            `CRASH in ${TARGETS[target].name} at run ${m.run} (seed ${seed}), ${m.inputLen} bytes ${
              m.inputHex.slice(0, 400)
            }\n${m.error}`,
          ),
        );
      } else resolve(m);
    };
    w.onerror = (e) => {
      clearTimeout(watchdog);
      dropWorker();
      e.preventDefault();
      reject(new Error(`worker error in ${TARGETS[target].name}: ${e.message}`));
    };
    arm();
    w.postMessage({ target, seed, runs: RUNS } satisfies FuzzJob);
  });
}

Deno.test(`fuzz: every decoder, random and mutated input, no crash but CodecError, no hang`, async () => {
  let total = 0, bytes = 0;
  const failures: string[] = [];
  console.log(`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED}), ${RUNS} inputs per target`);
  for (let i = 0; i < TARGETS.length; i++) {
    try {
      const r = await runTarget(i, (SEED + i * 7919) >>> 0);
      total += r.runs;
      bytes += r.bytes;
      const top = Object.entries(r.codes).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, n]) => `${c}:${n}`).join(
        " ",
      );
      console.log(
        `  ${TARGETS[i].name}: ${r.runs} inputs, ${r.accepted} accepted, ${r.rejected} CodecError [${top}], ` +
          `slowest ${r.slowestMs.toFixed(1)} ms`,
      );
      // the seeds are valid (some decoder call accepts them) and the fuzzed inputs get rejected: otherwise the target tests nothing
      assert(r.seedAccepted > 0, `${TARGETS[i].name}: no seed accepted; seeds broken?`);
      assert(r.rejected > 0, `${TARGETS[i].name}: nothing rejected; decoder never reached?`);
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  dropWorker();
  console.log(
    `fuzz total: ${TARGETS.length} targets, ${total} inputs, ${
      (bytes / 1e6).toFixed(1)
    } MB, ${failures.length} failures`,
  );
  assert(failures.length === 0, failures.join("\n\n"));
});
