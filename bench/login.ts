/**
 * `deno task bench login [--burst 300]`: a burst of parallel sign-ins against the server
 * running as its own process (server/main.ts), as a password-guessing script would send
 * them: --burst wrong passwords for one account, then the same number for as many
 * different names. Prints what was answered (checked 401, refused 429), the server's
 * resident memory (VmRSS now, VmHWM peak, from /proc) before and after, and /api/health
 * latency while the burst runs. Each argon2id check holds ~19 MiB: without a bound on
 * concurrent checks the peak grows with the burst.
 */
import { parseArgs } from "node:util";
import { createUser } from "../server/auth/users.ts";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function memMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

export default async function (args: string[]) {
  const { values } = parseArgs({ args, options: { burst: { type: "string", default: "300" } } });
  const n = Number(values.burst);
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-bench-login-" });
  const port = freePort();
  {
    await Deno.chmod(dir, 0o700);
    const kv = await Deno.openKv(`${dir}/meterfleet.kv`);
    await createUser(kv, { username: "victim", role: "admin", password: "the victim's password" });
    kv.close();
  }
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../server/main.ts", import.meta.url).pathname],
    env: { DATA_DIR: dir, PORT: String(port), MQTT_PORT: String(freePort()), LOG_LEVEL: "error", FLEET_TZ: "UTC" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 300; i++) {
      const r = await fetch(`${url}/api/health`).catch(() => null);
      await r?.body?.cancel();
      if (r) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const form = await fetch(`${url}/login`);
    const html = await form.text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const cookie = form.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const attempt = async (username: string, password: string) => {
      const r = await fetch(`${url}/login`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie },
        body: new URLSearchParams({ username, password, _csrf: csrf }),
      });
      await r.body?.cancel();
      return r.status;
    };
    const before = await memMiB(proc.pid);
    console.log(`server before: rss ${before.rss.toFixed(0)} MiB, peak ${before.peak.toFixed(0)} MiB`);

    const bursts: [string, (i: number) => [string, string]][] = [
      ["one account", (i) => ["victim", `wrong guess ${i}`]],
      ["distinct names", (i) => [`user${i}`, "a guess"]],
    ];
    for (const [what, make] of bursts) {
      const health: number[] = [];
      let running = true;
      const prober = (async () => {
        while (running) {
          const t0 = performance.now();
          const r = await fetch(`${url}/api/health`);
          await r.body?.cancel();
          health.push(performance.now() - t0);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const t0 = performance.now();
      const statuses = await Promise.all(Array.from({ length: n }, (_, i) => attempt(...make(i))));
      const wall = performance.now() - t0;
      running = false;
      await prober;
      const count = (c: number) => statuses.filter((s) => s === c).length;
      const after = await memMiB(proc.pid);
      console.log(
        `${n} parallel sign-ins, ${what}: ${count(401)} checked (401), ${count(429)} refused (429), ` +
          `${n - count(401) - count(429)} other; ${(wall / 1000).toFixed(1)} s`,
      );
      console.log(
        `  server: rss ${after.rss.toFixed(0)} MiB, peak ${after.peak.toFixed(0)} MiB ` +
          `(peak ×${(after.peak / before.peak).toFixed(2)} of before); ` +
          `/api/health during the burst p50 ${pct(health, 50).toFixed(0)} ms, p99 ${pct(health, 99).toFixed(0)} ms`,
      );
    }
    console.log(`the right password after the burst: HTTP ${await attempt("victim", "the victim's password")}`);
  } finally {
    proc.kill("SIGTERM");
    await proc.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
