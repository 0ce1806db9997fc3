/** Time is injected so tests control it instead of sleeping. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** A clock tests can move by hand. */
export class ManualClock implements Clock {
  #waiters: { at: number; resolve: () => void }[] = [];
  constructor(private t = 0) {}
  now() {
    return this.t;
  }
  /** like the system clock's: an abort rejects at once (a stopping server must not wait for time that never comes) */
  sleep(ms: number, signal?: AbortSignal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter = { at: this.t + ms, resolve };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal.reason);
      }, { once: true });
    });
  }
  /** Advance time, waking every sleeper whose deadline has passed. */
  advance(ms: number) {
    this.t += ms;
    const due = this.#waiters.filter((w) => w.at <= this.t);
    this.#waiters = this.#waiters.filter((w) => w.at > this.t);
    for (const w of due) w.resolve();
  }
}
