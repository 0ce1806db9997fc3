/** The commands people type, as real processes: `deno task sim bk7231 …` and `deno task agent …`. */
const root = new URL("../../", import.meta.url).pathname;

export interface SimProcess {
  firstLine: string;
  path: string;
  /** SIGTERM; the simulator prints its stats as the last stderr line */
  stop(): Promise<{ err: string; status: Deno.CommandStatus }>;
}

/** `deno task sim bk7231 …` */
export function startSimCli(args: string[]): Promise<SimProcess> {
  return startSimProcess(["bk7231", ...args]);
}

/** `deno task sim <device> …` (bk7231, bl0942, tuyamcu, …), once it has printed its pty */
export async function startSimProcess(args: string[]): Promise<SimProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}edge-agent/sim/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  let stopped: Promise<{ err: string; status: Deno.CommandStatus }> | null = null;
  return {
    firstLine: out.split("\n")[0],
    path: out.split("\n")[0].replace(/^pty: /, ""),
    stop() {
      return stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const [, err, status] = await Promise.all([
          child.stdout.cancel(),
          new Response(child.stderr).text(),
          child.status,
        ]);
        return { err, status };
      })();
    },
  };
}

export async function agentCli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}edge-agent/main.ts`, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}
