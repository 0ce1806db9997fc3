/**
 * Password checks, one at a time per account and per address, a few at a time
 * overall, with a bounded queue. Without it, thirty guesses sent at once were all
 * checked before any failure was counted (the lockout never applied), and thirty
 * argon2id hashes (19 MiB each) ran at once. A burst past the queue is refused at
 * once (429), so memory stays bounded whatever arrives.
 */
import type { ServerContext } from "../context.ts";

export class LoginGate {
  #tails = new Map<string, Promise<void>>();
  #pending = 0;
  #running = 0;
  #slots: (() => void)[] = [];

  constructor(readonly opts: { concurrent: number; maxPending: number } = { concurrent: 2, maxPending: 64 }) {}

  /** attempts waiting or running now */
  get pending(): number {
    return this.#pending;
  }

  /** Run `fn` holding every key's lock (and a password-check slot); "busy" when the queue is full. */
  async run<T>(keys: string[], fn: () => Promise<T>): Promise<T | "busy"> {
    if (this.#pending >= this.opts.maxPending) return "busy";
    this.#pending++;
    const releases: (() => void)[] = [];
    try {
      // one fixed order for every caller: two attempts never hold each other's second lock
      for (const k of [...new Set(keys)].sort()) releases.push(await this.#lock(k));
      await this.#slot();
      try {
        return await fn();
      } finally {
        const next = this.#slots.shift();
        if (next) next(); // the slot passes straight to the next waiter
        else this.#running--;
      }
    } finally {
      for (const r of releases.reverse()) r();
      this.#pending--;
    }
  }

  async #lock(key: string): Promise<() => void> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.#tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }

  async #slot(): Promise<void> {
    if (this.#running < this.opts.concurrent) {
      this.#running++;
      return;
    }
    // a finishing holder hands its slot straight over (#running stays the same)
    await new Promise<void>((r) => this.#slots.push(r));
  }
}

const gates = new WeakMap<ServerContext, LoginGate>();

/** This server's gate (sign-in and password change share it). */
export function loginGateOf(ctx: ServerContext): LoginGate {
  let g = gates.get(ctx);
  if (!g) gates.set(ctx, g = new LoginGate());
  return g;
}

export function loginKeys(username: string, address: string): string[] {
  return [`user:${username.toLowerCase().slice(0, 64)}`, `addr:${address}`];
}
