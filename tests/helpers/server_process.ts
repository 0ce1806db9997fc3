/**
 * The server as a separate OS process (server/main.ts), for tests that kill it
 * with SIGKILL mid-work, exactly as a crash or a power cut would.
 */
import { waitFor } from "./net.ts";

export interface ServerProcess {
  url: string;
  kill(): Promise<void>;
  /** graceful stop (SIGTERM) */
  stop(): Promise<void>;
}

export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const main = new URL("../../server/main.ts", import.meta.url).pathname;
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main],
    env: { LOG_LEVEL: "error", ...env },
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
