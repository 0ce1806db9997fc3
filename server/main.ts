/**
 * `deno task server` / `npm start`: the meterfleet server. With --sim-bench N
 * it also starts a bench agent process with N simulated meters against the
 * embedded broker, so a fresh install has something to show.
 */
import { parseArgs } from "node:util";
import { configFromEnv } from "./config.ts";
import { startServer } from "./app.ts";
import { ensureInitialAdmin, simBenchToken } from "./auth/bootstrap.ts";

const { values: args } = parseArgs({ args: Deno.args, options: { "sim-bench": { type: "string" } } });
const config = configFromEnv();
const server = await startServer(config);
console.log(`meterfleet: dashboard on ${server.url}`);
const firstAdmin = await ensureInitialAdmin(server.ctx);
if (firstAdmin) console.log(`meterfleet: first start — sign in as "admin" with the one-time password in ${firstAdmin}`);

let agent: Deno.ChildProcess | null = null;
const simCount = Number(args["sim-bench"] ?? 0);
if (simCount > 0) {
  const brokerUrl = config.mqttUrl ?? server.ctx.broker!.url;
  agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../edge-agent/main.ts", import.meta.url).pathname, "run",
      "--id", "sim-bench", "--sim", String(simCount), "--mqtt", brokerUrl, "--spool", `${config.dataDir}/agent-sim-bench`],
    // the agent's credential goes through the environment, never the command line (visible in ps)
    env: { AGENT_TOKEN: await simBenchToken(server.ctx, "sim-bench") },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  console.log(`meterfleet: simulated bench of ${simCount} meters (agent "sim-bench") publishing to ${brokerUrl}`);
}

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  if (agent) {
    agent.kill("SIGTERM");
    await agent.status;
  }
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
