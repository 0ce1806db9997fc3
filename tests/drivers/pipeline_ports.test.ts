import { assert, assertEquals } from "@std/assert";
import { BenchAgent } from "../../edge-agent/agent.ts";
import { portPollers } from "../../edge-agent/drivers/cli.ts";
import { Bl0942Sim } from "../../edge-agent/sim/bl0942.ts";
import { TuyaMcuSim } from "../../edge-agent/sim/tuyamcu.ts";
import { PhysicalMeter } from "../../edge-agent/sim/physics.ts";
import { getLatest } from "../../server/meters/store.ts";
import { createLogger } from "../../shared/log.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/net.ts";
import { withTempDir } from "../helpers/tmp.ts";

Deno.test("real ports → profile-chosen pollers → agent → MQTT → server: a BL0942 plug and an SPM02 show up", async () => {
  await withTempDir(async (dir) => {
    const srv = await startTestServer();
    const bl = new Bl0942Sim(new PhysicalMeter({ loadW: 60 })).start();
    const spm = new TuyaMcuSim("spm02", new PhysicalMeter({ loadW: [13, 27, 54], powerFactor: 0.59 }), undefined, {
      reportMs: 300,
    }).start();
    const pollers = portPollers({
      port: [bl.path, spm.path],
      profile: ["pziot-e01", "spm02-v2"],
      device: ["plug-1", "spm-1"],
    });
    const agent = await BenchAgent.start({
      agentId: "bench-ports",
      mqttUrl: srv.brokerUrl,
      ...(await srv.agentCredentials("bench-ports")),
      spoolDir: `${dir}/spool`,
      pollers,
      batchIntervalMs: 100,
      log: createLogger({ level: "error" }),
    });
    try {
      const plug = await waitFor(() => getLatest(srv.kv, "plug-1"), { timeoutMs: 20000 });
      assert(
        Math.abs(plug.reading.power - 60) < 0.1 && Math.abs(plug.reading.voltage - 230) < 0.1,
        JSON.stringify(plug),
      );
      const three = await waitFor(async () => {
        const l = await getLatest(srv.kv, "spm-1");
        return l?.reading.phases?.length === 3 ? l : null;
      }, { timeoutMs: 20000 });
      assertEquals(three.reading.phases!.map((p) => p.power), [13, 27, 54]);
      assertEquals(three.agentId, "bench-ports");
    } finally {
      await agent.stop();
      await bl.stop();
      await spm.stop();
      await srv.close();
    }
  });
});
