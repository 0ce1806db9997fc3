/**
 * `deno task agent calibrate --port <tty> --profile <id> --volts 230 --amps 0.261 --watts 60
 *    [--by name] [--unit id --server http://host:8000 --agent-id bench-1]`
 * Polls the chip meter on the bench, calibrates the driver against the trusted
 * meter's readings of a reference load (e.g. a 60 W bulb), prints the error
 * before and after, and with --server/--unit stores the record in the unit's
 * calibration history, authenticated as the bench agent ($AGENT_TOKEN, as `agent run`
 * and `agent flash` do; --agent-id defaults to the host name).
 */
import { parseArgs } from "node:util";
import { loadProfile } from "../drivers/cli.ts";
import { ChipPoller } from "../drivers/chip.ts";
import { calibrateDriver } from "./bench.ts";
import type { PollerEvent } from "../drivers/poller.ts";

export async function runCalibrateCli(args: string[]) {
  const { values: a } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      profile: { type: "string" },
      volts: { type: "string" },
      amps: { type: "string" },
      watts: { type: "string" },
      by: { type: "string" },
      unit: { type: "string" },
      server: { type: "string" },
      "agent-id": { type: "string" },
      samples: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (a.help || !a.port || !a.profile || !a.volts || !a.amps || !a.watts) {
    console.log(
      "deno task agent calibrate --port <tty> --profile <id> --volts V --amps A --watts W [--by name]\n" +
        "  [--unit id --server URL [--agent-id bench-1]]   (token in $AGENT_TOKEN) [--samples 3]",
    );
    return;
  }
  const token = Deno.env.get("AGENT_TOKEN");
  if (a.server && a.unit && !token) {
    throw new Error("--server needs the bench agent's token in $AGENT_TOKEN (deno task admin issue-agent-token)");
  }
  const profile = loadProfile(a.profile);
  if (profile.transport.kind !== "chip") {
    throw new Error(`${profile.id}: a TuyaMCU meter calibrates inside its MCU, not in the agent`);
  }
  const reference = { voltage: Number(a.volts), current: Number(a.amps), power: Number(a.watts) };
  const poller = new ChipPoller({ port: a.port, deviceId: a.unit ?? `${profile.id}-bench`, profile });
  let seen = 0;
  const wake: (() => void)[] = [];
  poller.start({
    reading: () => {
      seen++;
      wake.splice(0).forEach((w) => w());
    },
    event: (e: PollerEvent) => console.error(`${e.level}: ${e.code}: ${e.message}`),
  });
  try {
    const r = await calibrateDriver(poller, reference, {
      samples: Number(a.samples ?? 3),
      waitRaw: (n) => (seen > n ? Promise.resolve() : new Promise<void>((res) => wake.push(res))),
    });
    const row = (q: "voltage" | "current" | "power") =>
      `${q.padEnd(8)} raw ${r.raw[q].toPrecision(7).padStart(12)}  factor ${r.oldFactors[q].toPrecision(7)} → ${
        r.factors[q].toPrecision(7)
      }  error ${r.before.errorPct[q].toFixed(2)} % → ${r.after.errorPct[q].toFixed(2)} %`;
    console.log(
      `${r.chip} (${r.kind} factors), reference ${reference.voltage} V / ${reference.current} A / ${reference.power} W`,
    );
    for (const q of ["voltage", "current", "power"] as const) console.log(row(q));
    if (a.server && a.unit) {
      const agentId = a["agent-id"] ?? Deno.hostname();
      const url = `${a.server.replace(/\/$/, "")}/api/agents/${encodeURIComponent(agentId)}/calibrations/${
        encodeURIComponent(a.unit)
      }`;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({
          chip: r.chip,
          reference,
          raw: r.raw,
          oldFactors: r.oldFactors,
          operator: a.by ?? Deno.env.get("USER") ?? "",
          benchHost: Deno.hostname(),
        }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(`server refused the record: ${res.status} ${body.error ?? ""}`);
      console.log(`stored as calibration #${body.seq} of unit ${a.unit}`);
    }
  } finally {
    await poller.stop();
  }
}
