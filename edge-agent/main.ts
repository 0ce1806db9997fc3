/** The bench agent CLI: `deno task agent <command> ...`. Each command lives in its own module. */
const commands: Record<string, () => Promise<(args: string[]) => Promise<void> | void>> = {
  run: async () => (await import("./agent.ts")).runAgentCli,
  "map-dps": async () => (await import("./mapping/cli.ts")).runMapCli,
  profiles: async () => (await import("./drivers/cli.ts")).runProfilesCli,
  calibrate: async () => (await import("./calibration/cli.ts")).runCalibrateCli,
  flash: async () => (await import("./flash/cli.ts")).runFlashCli,
  "inspect-backup": async () => (await import("./inspect/cli.ts")).runInspectCli,
};

const [cmd, ...rest] = Deno.args;
const load = commands[cmd];
if (!load) {
  console.error(`usage: deno task agent <${Object.keys(commands).join("|")}> [options]  (--help for each)`);
  Deno.exit(2);
}
try {
  await (await load())(rest);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(1);
}
