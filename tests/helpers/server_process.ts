/**
 * The server as a separate OS process (server/main.ts), for tests that kill it
 * with SIGKILL mid-work, exactly as a crash or a power cut would.
 */
import { waitFor } from "./net.ts";
import { testAgentCredentials } from "./auth.ts";

export interface ServerProcess {
  url: string;
  kill(): Promise<void>;
  /** graceful stop (SIGTERM) */
  stop(): Promise<void>;
}

export async function spawnServer(env: Record<string, string>, args: string[] = []): Promise<ServerProcess> {
  const main = new URL("../../server/main.ts", import.meta.url).pathname;
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    // the OTA responder on any free port unless a test names one (PORT + 1 may be taken on a busy machine)
    env: { LOG_LEVEL: "error", FLEET_TZ: "UTC", OTA_HTTP_PORT: "0", ...env },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${env.PORT}`;
  try {
    await waitFor(async () => {
      const r = await fetch(`${url}/api/health`).catch(() => null);
      await r?.body?.cancel();
      return r?.ok;
    }, { timeoutMs: 30_000, what: "server process health" });
  } catch (e) {
    proc.kill("SIGKILL");
    await proc.status;
    throw e;
  }
  let done = false;
  const end = async (signal: Deno.Signal) => {
    if (done) return;
    done = true;
    try {
      proc.kill(signal);
    } catch { /* gone */ }
    await proc.status;
  };
  return { url, kill: () => end("SIGKILL"), stop: () => end("SIGTERM") };
}

/** Agent credentials in the KV of a server process (env as given to spawnServer); call before or between runs. */
export async function processAgentCredentials(env: Record<string, string>, agentId: string) {
  await Deno.mkdir(env.DATA_DIR, { recursive: true });
  const kv = await Deno.openKv(env.KV_PATH ?? `${env.DATA_DIR}/meterfleet.kv`);
  try {
    return await testAgentCredentials(kv, agentId);
  } finally {
    kv.close();
  }
}
