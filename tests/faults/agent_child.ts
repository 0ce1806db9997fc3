/**
 * A bench agent as its own OS process for fault runs (killed with SIGKILL at
 * random points). Every batch that reached the disk spool is appended to a
 * journal file right after the spool write, so the test knows which readings
 * the agent had made durable. SIGTERM = graceful stop with a drain.
 *   deno run -A agent_child.ts <agentId> <mqttUrl> <spoolDir> <journal> <meters>   (token in $AGENT_TOKEN)
 */
import { BenchAgent } from "../../edge-agent/agent.ts";
import { defaultBench, SimulatedBench } from "../../edge-agent/drivers/simulated.ts";
import { TelemetrySpool } from "../../edge-agent/uplink/spool.ts";
import { decodeTelemetryBatch } from "../../shared/telemetry.ts";
import { createLogger } from "../../shared/log.ts";

const [agentId, mqttUrl, spoolDir, journal, meters] = Deno.args;
const put = TelemetrySpool.prototype.put;
const journalFile = await Deno.open(journal, { append: true, create: true });
const enc = new TextEncoder();
TelemetrySpool.prototype.put = async function (seq: number, payload: Uint8Array) {
  await put.call(this, seq, payload);
  const b = decodeTelemetryBatch(payload);
  await journalFile.write(enc.encode(b.readings.map((r) => `${r.deviceId}@${r.ts}`).join("\n") + "\n"));
};

const agent = await BenchAgent.start({
  agentId,
  mqttUrl,
  username: agentId,
  password: Deno.env.get("AGENT_TOKEN"),
  spoolDir,
  pollers: [new SimulatedBench(defaultBench(Number(meters)), { intervalMs: 50, seed: Date.now() & 0xffff })],
  batchIntervalMs: 100,
  log: createLogger({ level: "error" }),
  uplink: { ackTimeoutMs: 1500 },
});
console.log("ready");
Deno.addSignalListener("SIGTERM", async () => {
  await agent.stop({ drainMs: 60_000 });
  console.log(`spooled ${agent.uplink.stats().spooled}`);
  Deno.exit(0);
});
