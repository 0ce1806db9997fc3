/// <reference lib="deno.worker" />
/**
 * Runs one fuzz target in a worker so the test can notice a hang (no progress)
 * and terminate it. Deterministic: (seed, run index) reproduces an input.
 */
import { tally, TARGETS } from "./fuzz_targets.ts";
import { seededRandom } from "../../shared/random.ts";

export interface FuzzJob {
  target: number;
  seed: number;
  runs: number;
}

export type FuzzReport =
  | { kind: "progress"; runs: number }
  | { kind: "crash"; run: number; error: string; inputHex: string; inputLen: number }
  | {
    kind: "done";
    runs: number;
    accepted: number;
    rejected: number;
    bytes: number;
    slowestMs: number;
    codes: Record<string, number>;
    seedAccepted: number;
  };

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x55, 0xaa, 0x5a, 0x04, 0x0e, 0xfe, 0x01, 0xf4, 0x0a, 0x22, 0x7b];

function mutate(seed: Uint8Array, r: () => number): Uint8Array {
  let b = Array.from(seed);
  const n = 1 + Math.floor(r() * 8);
  const int = (k: number) => Math.floor(r() * k);
  for (let i = 0; i < n; i++) {
    const pos = int(b.length + 1);
    switch (int(9)) {
      case 0:
        if (b.length) b[int(b.length)] ^= 1 << int(8);
        break; // bit flip
      case 1:
        if (b.length) b[int(b.length)] = int(256);
        break; // random byte
      case 2:
        if (b.length) b[int(b.length)] = INTERESTING[int(INTERESTING.length)];
        break;
      case 3:
        b.splice(pos, 0, int(256));
        break; // insert
      case 4:
        if (b.length) b.splice(int(b.length), 1 + int(4));
        break; // delete
      case 5:
        b = b.slice(0, int(b.length + 1));
        break; // truncate
      case 6: { // duplicate a chunk
        const s = int(b.length + 1), e = Math.min(b.length, s + int(32));
        b.splice(pos, 0, ...b.slice(s, e));
        break;
      }
      case 7: { // length-ish fields: big/small numbers at a random spot
        if (b.length >= 2) {
          const at = int(b.length - 1);
          const v = [0, 1, 0xff, 0xffff, 0x7fff, 0x8000][int(6)];
          b[at] = v & 0xff;
          b[at + 1] = (v >> 8) & 0xff;
        }
        break;
      }
      case 8:
        b.push(...Array.from({ length: int(64) }, () => int(256)));
        break; // trailing garbage
    }
  }
  return Uint8Array.from(b.slice(0, 1 << 16));
}

self.onmessage = (ev: MessageEvent<FuzzJob>) => {
  const job = ev.data;
  const t = TARGETS[job.target];
  const r = seededRandom(job.seed);
  let bytes = 0, slowest = 0;
  // the seeds themselves first: they are valid inputs, so the decoders must accept some of them
  tally.accepted = 0;
  for (const seed of t.seeds) t.run(seed);
  const seedAccepted = tally.accepted;
  tally.accepted = 0;
  tally.rejected = 0;
  tally.codes = {};
  for (let i = 0; i < job.runs; i++) {
    let input: Uint8Array;
    if (t.seeds.length === 0 || r() < 0.25) {
      const len = Math.floor(r() * (t.maxLen ?? 300));
      input = Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
      // half of the random inputs start like a real frame, so they get past the first byte check
      if (t.seeds.length && r() < 0.5) {
        input.set(t.seeds[Math.floor(r() * t.seeds.length)].subarray(0, Math.min(len, 3)));
      }
    } else {
      input = mutate(t.seeds[Math.floor(r() * t.seeds.length)], r);
    }
    bytes += input.length;
    const t0 = performance.now();
    try {
      t.run(input);
    } catch (e) {
      {
        self.postMessage(
          {
            kind: "crash",
            run: i,
            error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e),
            inputHex: Array.from(input.subarray(0, 2048), (x) => x.toString(16).padStart(2, "0")).join(""),
            inputLen: input.length,
          } satisfies FuzzReport,
        );
        return;
      }
    }
    slowest = Math.max(slowest, performance.now() - t0);
    if (i % 500 === 499) self.postMessage({ kind: "progress", runs: i + 1 } satisfies FuzzReport);
  }
  const { accepted, rejected, codes } = tally;
  self.postMessage(
    {
      kind: "done",
      runs: job.runs,
      accepted,
      rejected,
      bytes,
      slowestMs: slowest,
      codes,
      seedAccepted,
    } satisfies FuzzReport,
  );
};
