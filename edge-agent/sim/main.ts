/**
 * `deno task sim <device> [args]`: start one device simulator on a pty.
 * Each simulator prints `pty: <path>` as its first stdout line and serves
 * until killed. Metering chips come from the chip registry (each entry names its
 * simulator module and entry function); other devices are listed in `sims` below,
 * pointing at a module whose `runSimCli(args)` does the rest.
 */
import { CHIPS } from "../../shared/meterchips/registry.ts";

type SimCli = (args: string[]) => Promise<void>;
const sims: Record<string, () => Promise<SimCli>> = {
  bk7231: () => import("./bk7231-cli.ts").then((m) => m.runSimCli),
  tuyamcu: () => import("./tuyamcu.ts").then((m) => m.runSimCli),
  openbeken: () => import("./openbeken.ts").then((m) => m.runSimCli),
};
for (const c of CHIPS.values()) {
  sims[c.cli] = () => import(new URL(c.sim.module, import.meta.url).href).then((m) => m[c.sim.run] as SimCli);
}

const [name, ...rest] = Deno.args;
const load = name ? sims[name] : undefined;
if (!load) {
  console.error(`usage: deno task sim <${Object.keys(sims).sort().join("|")}> [args]`);
  Deno.exit(2);
}
await (await load())(rest);
