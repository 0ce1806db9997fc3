/**
 * Recorded traffic: the MQTT publishes of a real ZMAi-90 (RN8209 driver, topic
 * zmai90) as its own log shows them, replayed on the broker. The unit has no
 * energy counter in this recording, so energy is integrated from its power.
 */
import { assertEquals } from "@std/assert";
import { ManualClock } from "../../shared/clock.ts";
import type { FleetSnapshot } from "../../shared/fleet.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";
import { dailyWh, Replayer } from "./replay.ts";

/** [second of the driver's 1 s loop, topic, payload] from lines like `Info:MQTT:Publishing val 8.24 to zmai90/power/get retain=0` */
export function parseObkLog(text: string): { second: number; topic: string; payload: string }[] {
  const out: { second: number; topic: string; payload: string }[] = [];
  let second = 0;
  for (const line of text.split("\n")) {
    if (/EnergyMeter:V\s/.test(line)) second++; // the driver logs one V/C/P line per update (1 s)
    const m = /Publishing\s+val\s+(\S+)\s+to\s+(\S+)\s+retain=/.exec(line);
    if (m) out.push({ second, topic: m[2], payload: m[1] });
  }
  return out;
}

Deno.test("recorded ZMAi-90 publishes: live values on the dashboard, energy integrated from power", async () => {
  const log = parseObkLog(await Deno.readTextFile(new URL("fixtures/zmai90_seed000.log", import.meta.url)));
  assertEquals(log.map((l) => `${l.second} ${l.topic} ${l.payload}`), [
    "1 zmai90/power/get 8.24",
    "3 zmai90/voltage/get 224.2",
    "5 zmai90/current/get 0.221",
  ]);
  const start = Date.UTC(2026, 2, 14, 10, 0, 0);
  const clock = new ManualClock(start);
  const srv = await startTestServer({ clock });
  const unit = await ObkUnit.connect(srv, "zmai90");
  const r = new Replayer(srv, clock);
  try {
    // the recording is 5 s long; looping it for an hour gives 721 power publishes 5 s apart
    for (let pass = 0; pass <= 720; pass++) {
      for (const l of log) {
        r.at(start + pass * 5000 + (l.second - 1) * 1000);
        const leaf = l.topic.split("/")[1];
        if (leaf === "power") await r.sample(unit, leaf, l.payload);
        else await unit.value(leaf, l.payload);
      }
    }
    const snap = await (await srv.api("/api/meters")).json() as FleetSnapshot;
    const m = snap.meters.find((x) => x.deviceId === "zmai90")!;
    assertEquals([m.reading.power, m.reading.voltage, m.reading.current, m.agentId], [8.24, 224.2, 0.221, "openbeken"]);
    // 8.24 W for exactly one hour
    assertEquals(await dailyWh(srv, "unit", "zmai90", start - 86_400_000, start + 86_400_000), { "2026-03-14": 8.24 });
  } finally {
    r.close();
    await unit.close();
    await srv.close();
  }
});
