/**
 * A real Mosquitto broker (Debian package) on a free loopback port, started
 * and stopped by the test. `restart()` keeps the port, as a broker restart in
 * production would.
 */
import { freePort, waitFor } from "./net.ts";

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

const BIN = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"];

async function binary(): Promise<string> {
  for (const b of BIN) {
    if (await Deno.stat(b).then(() => true, () => false)) return b;
  }
  throw new Error("mosquitto is not installed (apt-get install -y mosquitto; npm test does it for you)");
}

export async function startMosquitto(opts: { extraConfig?: string } = {}): Promise<Mosquitto> {
  const bin = await binary();
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-mosq-" });
  const conf = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      opts.extraConfig ?? "allow_anonymous true",
      "persistence false",
      "log_dest stderr",
      "log_type error",
      "max_queued_messages 100000",
    ].join("\n") + "\n",
  );
  let proc: Deno.ChildProcess | null = null;
  const launch = async () => {
    proc = new Deno.Command(bin, { args: ["-c", conf], stdout: "null", stderr: "piped" }).spawn();
    await waitFor(async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    }, { what: `mosquitto on port ${port}` });
  };
  const kill = async () => {
    if (!proc) return;
    const p: Deno.ChildProcess = proc;
    proc = null;
    try {
      p.kill("SIGKILL");
    } catch { /* already gone */ }
    await p.status;
    await p.stderr.cancel().catch(() => {});
  };
  await launch();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    restart: async () => {
      await kill();
      await launch();
    },
  };
}
