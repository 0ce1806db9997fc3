/**
 * `deno task agent calibrate … --unit … --server …` as documented: the bench agent's own token in
 * $AGENT_TOKEN stores the record (it got 401 with AGENT_TOKEN and 403 with an agent token in SERVER_TOKEN).
 * Real processes: the BL0942 simulator on a pty, the agent CLI, a real server.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { calibrationHistory } from "../../server/calibration/store.ts";
import { createUnit } from "../../server/inventory/units.ts";
import { startTestServer } from "../helpers/server.ts";
import { agentCli, startSimProcess } from "../flash/cli_helpers.ts";

const root = new URL("../../", import.meta.url).pathname;
const startSim = startSimProcess;
const calibrate = (env: Record<string, string>, extra: string[]) => agentCli(["calibrate", ...extra], env);

Deno.test("agent calibrate --unit --server: authenticated with AGENT_TOKEN, the record's actor is the agent", async () => {
  const srv = await startTestServer();
  const sim = await startSim(["bl0942", "60"]);
  try {
    const unit = await createUnit(srv.kv, { mac: "c8:47:8c:30:00:01", model: "pziot-e01" }, { by: "test" });
    const { token } = await srv.agentCredentials("bench-1");
    const args = (agentId: string) => [
      "--port",
      sim.path,
      "--profile",
      "pziot-e01",
      "--volts",
      "230",
      "--amps",
      String(60 / 230),
      "--watts",
      "60",
      "--by",
      "alice",
      "--unit",
      unit.id,
      "--server",
      srv.url,
      "--agent-id",
      agentId,
    ];
    const missing = await calibrate({}, args("bench-1"));
    assert(missing.code !== 0);
    assertStringIncludes(missing.stderr, "AGENT_TOKEN");

    const other = await calibrate({ AGENT_TOKEN: token! }, args("bench-2")); // a token speaks only for its agent
    assert(other.code !== 0);
    assertStringIncludes(other.stderr, "403");

    const ok = await calibrate({ AGENT_TOKEN: token! }, args("bench-1"));
    assertEquals(ok.code, 0, ok.stdout + ok.stderr);
    assertStringIncludes(ok.stdout, `stored as calibration #1 of unit ${unit.id}`);
    const [rec] = await calibrationHistory(srv.kv, unit.id);
    assertEquals([rec.mode, rec.by, rec.chip], ["bench", "agent:bench-1", "BL0942"]);
    assertStringIncludes(rec.note, "operator alice");
    assert(Math.abs(rec.errorAfterPct!.power) < 0.5);
  } finally {
    await sim.stop();
    await srv.close();
  }
});

Deno.test("unit page: calibrate a chip meter on a bench port through the agent polling it", async () => {
  const srv = await startTestServer();
  const sim = await startSim(["bl0942", "60"]);
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-agent-" });
  const { token } = await srv.agentCredentials("bench-1");
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}edge-agent/main.ts`,
      "run",
      "--id",
      "bench-1",
      "--mqtt",
      srv.brokerUrl,
      "--sim",
      "0",
      "--port",
      sim.path,
      "--profile",
      "pziot-e01",
      "--server",
      srv.url,
    ],
    cwd: dir,
    env: { AGENT_TOKEN: token!, LOG_LEVEL: "error" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const unit = await createUnit(srv.kv, { mac: "c8:47:8c:30:00:02", model: "pziot-e01" }, { by: "test" });
    const { waitFor } = await import("../helpers/net.ts");
    const { listBenches } = await import("../../server/flash/jobs_store.ts");
    await waitFor(async () => (await listBenches(srv.kv)).some((b) => b.online && b.meters.length === 1), {
      what: "the agent announced its chip meter",
      timeoutMs: 30_000,
    });
    const page = await (await srv.api(`/units/${unit.id}`)).text();
    assertStringIncludes(page, "Calibrate at the bench");
    const res = await srv.api(`/units/${unit.id}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        form: "calibrate-bench",
        target: `bench-1 ${sim.path}`,
        volts: "230",
        amps: String(60 / 230),
        watts: "60",
      }),
    });
    const html = await res.text();
    assertEquals(res.status, 200, html.slice(0, 300));
    assertStringIncludes(html, "calibrated on the bench");
    const [rec] = await calibrationHistory(srv.kv, unit.id);
    assertEquals([rec.mode, rec.by, rec.chip], ["bench", "agent:bench-1", "BL0942"]);
    assertStringIncludes(rec.note, "operator test-admin");
    assert(Math.abs(rec.errorAfterPct!.power) < 0.5, JSON.stringify(rec.errorAfterPct));
    // a port the bench does not poll is refused with the reason
    const bad = await srv.api(`/units/${unit.id}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        form: "calibrate-bench",
        target: "bench-1 /dev/nope",
        volts: "230",
        amps: "1",
        watts: "60",
      }),
    });
    assertEquals(bad.status, 400);
    assertStringIncludes(await bad.text(), "polls no chip meter on /dev/nope");
  } finally {
    agent.kill("SIGTERM");
    await agent.status;
    await sim.stop();
    await srv.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
