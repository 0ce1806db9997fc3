/**
 * `deno task sim <device> [args]`: start one device simulator on a pty.
 * Each simulator prints `pty: <path>` as its first stdout line and serves
 * until killed. Add a device by adding one line to `sims` below, pointing at a
 * module whose `runSimCli(args)` does the rest.
 */
const sims: Record<string, () => Promise<{ runSimCli(args: string[]): Promise<void> }>> = {
  bk7231: () => import("./bk7231-cli.ts"),
  tuyamcu: () => import("./tuyamcu.ts"),
  bl0942: () => import("./bl0942.ts"),
  cse7766: () => import("./cse7766.ts"),
  rn8209: () => import("./register_chips.ts").then((m) => ({ runSimCli: m.runRn8209 })),
  ht7017: () => import("./register_chips.ts").then((m) => ({ runSimCli: m.runHt7017 })),
  bl6552: () => import("./register_chips.ts").then((m) => ({ runSimCli: m.runBl6552 })),
  openbeken: () => import("./openbeken.ts"),
};

const [name, ...rest] = Deno.args;
const load = name ? sims[name] : undefined;
if (!load) {
  console.error(`usage: deno task sim <${Object.keys(sims).sort().join("|")}> [args]`);
  Deno.exit(2);
}
await (await load()).runSimCli(rest);
