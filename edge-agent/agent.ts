/**
 * The bench agent's telemetry side: pollers push readings, once per interval
 * the agent packs what arrived into one batch, spools it, and the uplink
 * delivers it. `deno task agent run --help` for the CLI.
 */
import { parseArgs } from "node:util";
import { createLogger, type Logger } from "../shared/log.ts";
import { type Reading, READINGS_PER_AGENT_BATCH } from "../shared/telemetry.ts";
import { AGENT_ID } from "../shared/topics.ts";
import type { Poller, PollerEvent } from "./drivers/poller.ts";
import { defaultBench, SimulatedBench } from "./drivers/simulated.ts";
import { PORT_HELP, portPollerOptions, portPollers } from "./drivers/cli.ts";
import { TelemetrySpool } from "./uplink/spool.ts";
import { TelemetryUplink, type UplinkOptions } from "./uplink/uplink.ts";

export interface AgentOptions {
  agentId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  spoolDir: string;
  pollers: Poller[];
  batchIntervalMs?: number;
  log?: Logger;
  onEvent?: (e: PollerEvent) => void;
  /** uplink tuning (ack timeout, in-flight window) */
  uplink?: Pick<UplinkOptions, "ackTimeoutMs" | "maxInflight" | "onAck">;
}

export class BenchAgent {
  readonly uplink: TelemetryUplink;
  #buffer: Reading[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #flushing: Promise<unknown> = Promise.resolve();

  private constructor(private o: AgentOptions, spool: TelemetrySpool, private log: Logger) {
    this.uplink = new TelemetryUplink({
      agentId: o.agentId,
      mqttUrl: o.mqttUrl,
      username: o.username,
      password: o.password,
      spool,
      log,
      ...o.uplink,
    });
  }

  static async start(o: AgentOptions): Promise<BenchAgent> {
    if (!AGENT_ID.test(o.agentId)) {
      throw new Error(`agent id ${JSON.stringify(o.agentId)}: use 1-64 of A-Z a-z 0-9 _ . -`);
    }
    const log = o.log ?? createLogger({ fields: { agent: o.agentId } });
    const spool = await TelemetrySpool.open(o.spoolDir);
    if (spool.pending().length) log.info("re-sending spooled batches", { batches: spool.pending().length });
    const agent = new BenchAgent(o, spool, log);
    for (const p of o.pollers) {
      await p.start({
        reading: (r) => agent.#buffer.push(r),
        event: (e) => {
          log[e.level](e.message, { poller: p.name, code: e.code, deviceId: e.deviceId, port: e.port });
          o.onEvent?.(e);
        },
      });
    }
    agent.#timer = setInterval(() => agent.flush(), o.batchIntervalMs ?? 1000);
    return agent;
  }

  /** Pack buffered readings into one spooled batch (serialised so seqs follow reading order). */
  flush(): Promise<unknown> {
    if (this.#buffer.length === 0) return this.#flushing;
    const readings = this.#buffer;
    this.#buffer = [];
    this.#flushing = this.#flushing.then(async () => {
      for (let i = 0; i < readings.length; i += READINGS_PER_AGENT_BATCH) {
        await this.uplink.send(readings.slice(i, i + READINGS_PER_AGENT_BATCH));
      }
    }).catch((e) => {
      // the disk is the only place readings survive; failing to write it is worth shouting about
      this.log.error("could not spool batch; readings kept in memory", { err: e, readings: readings.length });
      this.#buffer.unshift(...readings);
    });
    return this.#flushing;
  }

  /**
   * Stop polling, spool what was read, wait up to `drainMs` for the server to
   * ack everything, then disconnect. Whatever is still unacked stays in the
   * spool and is sent by the next run.
   */
  async stop(opts: { drainMs?: number } = {}) {
    if (this.#timer !== null) clearInterval(this.#timer);
    for (const p of this.o.pollers) await p.stop();
    await this.flush();
    if (opts.drainMs) await this.uplink.drained(opts.drainMs);
    await this.uplink.close();
  }
}

const HELP = `deno task agent run [options]
  --id <agentId>        this bench host's id (default: bench-<hostname>)
  --mqtt <url>          broker URL (default: mqtt://127.0.0.1:1883, or $MQTT_URL)
  --spool <dir>         disk spool (default: ./data/agent-<id>)
  --sim <n>             run n simulated meters (default when no real port is given: 12)
  --seed <n>            seed of the simulated bench
${PORT_HELP}
  --flash-port <tty>    take flash jobs from the /flash page on this port (repeat for more ports); needs --server
  --server <url>        the server's HTTP URL (backups, firmware, live progress of flash jobs; with --port chip
                        meters, the unit page can calibrate them through this agent)
  --provision <json>    provisioning file for "provision" jobs (wifi, mqtt, profile; see README)
  --backup-dir <dir>    where flash jobs keep backups (default: ./data/backups)
Credentials come from $AGENT_TOKEN (never from the command line, which other users can read).`;

export async function runAgentCli(args: string[]) {
  const { values: a } = parseArgs({
    args,
    options: {
      id: { type: "string" },
      mqtt: { type: "string" },
      spool: { type: "string" },
      sim: { type: "string" },
      seed: { type: "string" },
      help: { type: "boolean" },
      "flash-port": { type: "string", multiple: true },
      server: { type: "string" },
      provision: { type: "string" },
      "backup-dir": { type: "string" },
      ...portPollerOptions,
    },
  });
  if (a.help) return console.log(HELP);
  const host = Deno.hostname().replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 50);
  const agentId = a.id ?? `bench-${host}`;
  const simCount = Number(a.sim ?? (a.port?.length ? 0 : 12));
  if (!Number.isInteger(simCount) || simCount < 0 || simCount > 100_000) throw new Error("--sim takes a count");
  const pollers: Poller[] = portPollers(a);
  if (simCount > 0) {
    pollers.push(new SimulatedBench(defaultBench(simCount, Number(a.seed ?? 1)), { seed: Number(a.seed ?? 7) }));
  }
  const agent = await BenchAgent.start({
    agentId,
    mqttUrl: a.mqtt ?? Deno.env.get("MQTT_URL") ?? "mqtt://127.0.0.1:1883",
    username: Deno.env.get("AGENT_TOKEN") ? agentId : undefined,
    password: Deno.env.get("AGENT_TOKEN"),
    spoolDir: a.spool ?? `./data/agent-${agentId}`,
    pollers,
  });
  const flashPorts = a["flash-port"] ?? [];
  const { ChipPoller } = await import("./drivers/chip.ts");
  const meters = pollers.filter((p): p is InstanceType<typeof ChipPoller> => p instanceof ChipPoller);
  let jobs: { drain(): Promise<void> } | null = null;
  if (flashPorts.length && !a.server) {
    throw new Error("--flash-port needs --server <url> (backups, firmware and progress go over HTTP)");
  }
  // with a server, the bench takes jobs: flashing on --flash-port, calibrating its chip meters (--port)
  if (a.server && (flashPorts.length || meters.length)) {
    const { FlashJobRunner } = await import("./flash/remote.ts");
    const { HttpFlashServer } = await import("./flash/server-client.ts");
    const log = createLogger({ fields: { agent: agentId } });
    jobs = new FlashJobRunner({
      client: agent.uplink.client,
      agentId,
      ports: flashPorts,
      server: new HttpFlashServer(a.server, agentId, Deno.env.get("AGENT_TOKEN")),
      provisionFile: a.provision,
      backupDir: a["backup-dir"] ?? "./data/backups",
      stateDir: `./data/agent-${agentId}-flash-jobs`,
      flasher: { log },
      log,
      meters,
    });
  }
  const shutdown = async () => {
    await jobs?.drain();
    await agent.stop({ drainMs: 2000 });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
}
