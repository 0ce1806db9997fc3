/**
 * `deno task sim bk7231 …`: see USAGE. Signals: SIGUSR1 = reset pulse / power cycle, SIGTERM/SIGINT =
 * write --dump and exit (then one JSON stats line on stderr).
 */
import { parseArgs } from "@std/cli/parse-args";
import type { ChipKind } from "../../shared/bk7231/chips.ts";
import { Bk7231Sim } from "./bk7231.ts";

const USAGE = `deno task sim bk7231 [options]   a simulated BK7231N/T on a pty (prints "pty: /dev/pts/N" first)
  --chip bk7231n|bk7231t   (bk7231n)
  --image <file>           initial 2 MiB flash (default: a generated stock Tuya image)
  --mac aa:bb:cc:dd:ee:ff  MAC in the generated image (default: derived from the pty, c8:47:8c:20:00:<N>)
  --firmware openbeken|tuya  what runs after the reset window (openbeken reboots on "reboot")
  --dump <file>            write the flash here on exit
  --baud-pacing            deliver bytes at the line rate
  --window-ms N --erase-ms N (4K; 64K = x8) --program-ms N --crc-rate bytes/ms   timing
  --max-baud N --blocked-uart --powered-off   faults
signals: SIGUSR1 = reset / power cycle; SIGTERM or SIGINT = dump and exit (stats as JSON on stderr)`;

export async function runSimCli(args: string[]) {
  const a = parseArgs(args, {
    string: ["chip", "image", "dump", "firmware", "mac", "window-ms", "erase-ms", "program-ms", "crc-rate", "max-baud"],
    boolean: ["baud-pacing", "blocked-uart", "powered-off", "help"],
    default: { chip: "bk7231n" },
  }) as unknown as
    & Record<string, string | undefined>
    & Record<"baud-pacing" | "blocked-uart" | "powered-off" | "help", boolean>;
  if (a.help) {
    console.log(USAGE);
    return;
  }
  const chip = a.chip as ChipKind;
  if (chip !== "bk7231n" && chip !== "bk7231t") {
    console.error("--chip must be bk7231n or bk7231t");
    Deno.exit(2);
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const erase = num(a["erase-ms"]);
  const timing = Object.fromEntries(
    Object.entries({
      resetWindowMs: num(a["window-ms"]),
      eraseSectorMs: erase,
      eraseBlockMs: erase === undefined ? undefined : erase * 8,
      programSectorMs: num(a["program-ms"]),
      crcBytesPerMs: num(a["crc-rate"]),
    }).filter(([, v]) => v !== undefined),
  );
  const sim = Bk7231Sim.start({
    chip,
    image: a.image ? await Deno.readFile(a.image) : undefined,
    firmware: a.firmware === "tuya" ? "tuya" : "openbeken",
    mac: a.mac,
    pacing: a["baud-pacing"],
    timing,
    faults: { blockedUart: a["blocked-uart"], maxBaud: num(a["max-baud"]) },
    poweredOn: !a["powered-off"],
  });
  console.log(`pty: ${sim.path}`);

  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const stop = async () => {
    await sim.stop();
    if (a.dump) await Deno.writeFile(a.dump, sim.flash.data);
    console.error(JSON.stringify({ stats: sim.stats }));
    done();
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGUSR1", () => sim.reset());
  await finished;
  Deno.exit(0);
}
