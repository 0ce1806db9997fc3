/**
 * `deno task server` / `npm start`: the meterfleet server. With --sim-bench N
 * it also starts a bench agent process with N simulated meters, and with
 * --sim-openbeken N a process of N simulated deployed OpenBeken units, both
 * against the server's broker, so a fresh install has something to show.
 */
import { parseArgs } from "node:util";
import { configFromEnv } from "./config.ts";
import { startServer } from "./app.ts";
import { ensureInitialAdmin, simBenchToken } from "./auth/bootstrap.ts";
import { unitSecret } from "./auth/tokens.ts";
import type { ServerConfig } from "./config.ts";
import { describeStartupError } from "./startup_error.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { "sim-bench": { type: "string" }, "sim-openbeken": { type: "string" } },
});
let config: ServerConfig | null = null;
let server: Awaited<ReturnType<typeof startServer>>;
try {
  config = configFromEnv();
  server = await startServer(config);
} catch (e) {
  // a port in use, a damaged KV file, a bad setting: one line saying which, not a stack trace
  console.error(`meterfleet: cannot start: ${describeStartupError(e, config)}`);
  Deno.exit(1);
}
console.log(`meterfleet: dashboard on ${server.url}`);
const firstAdmin = await ensureInitialAdmin(server.ctx);
if (firstAdmin) console.log(`meterfleet: first start — sign in as "admin" with the one-time password in ${firstAdmin}`);

const children: Deno.ChildProcess[] = [];
const brokerUrl = config.mqttUrl ?? server.ctx.broker!.url;
const simCount = Number(args["sim-bench"] ?? 0);
if (simCount > 0) {
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../edge-agent/main.ts", import.meta.url).pathname,
      "run",
      "--id",
      "sim-bench",
      "--sim",
      String(simCount),
      "--mqtt",
      brokerUrl,
      "--spool",
      `${config.dataDir}/agent-sim-bench`,
    ],
    // the agent's credential goes through the environment, never the command line (visible in ps)
    env: { AGENT_TOKEN: await simBenchToken(server.ctx, "sim-bench") },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  children.push(agent);
  console.log(`meterfleet: simulated bench of ${simCount} meters (agent "sim-bench") publishing to ${brokerUrl}`);
}
const obkCount = Number(args["sim-openbeken"] ?? 0);
if (obkCount > 0) {
  const units = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../edge-agent/sim/main.ts", import.meta.url).pathname,
      "openbeken",
      "--count",
      String(obkCount),
      "--mqtt",
      brokerUrl,
      "--quiet",
    ],
    // the units sign in with flash-time credentials derived from the fleet's unit secret, as provisioned units do
    env: { OBK_UNIT_SECRET: (await unitSecret(server.ctx.kv, true))! },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  children.push(units);
  console.log(`meterfleet: ${obkCount} simulated OpenBeken units publishing their own topics to ${brokerUrl}`);
}

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  for (const child of children) {
    // Ctrl-C signals the whole process group: a child may already be gone
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await child.status;
  }
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
