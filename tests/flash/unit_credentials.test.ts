/**
 * A bench gets a unit's MQTT password (derived on the server) only for a unit
 * it backed up itself: a leaked bench token cannot mint credentials to pose as
 * any unit of the fleet.
 */
import { assertEquals } from "@std/assert";
import { storeBackup } from "../../server/db/flash.ts";
import { startTestServer } from "../helpers/server.ts";

Deno.test("unit credentials: only for topics whose MAC this bench backed up", async () => {
  const srv = await startTestServer();
  try {
    const ask = async (agentId: string, topic: string) => {
      const { token } = await srv.agentCredentials(agentId);
      const res = await fetch(`${srv.url}/api/agents/${agentId}/flash/credentials`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ topic }),
      });
      const body = await res.json();
      return { status: res.status, body };
    };
    // nothing backed up yet: refused
    assertEquals((await ask("bench-a", "obk8C112233")).status, 403);

    const image = new Uint8Array(4096).fill(0x5a);
    await storeBackup(srv.kv, srv.server.ctx.backupKey, image, {
      chip: "BK7231N",
      mac: "c8:47:8c:11:22:33",
      flashId: null,
      benchHost: "bench-a",
      agentId: "bench-a",
      port: "/dev/ttyUSB0",
    });
    const ok = await ask("bench-a", "obk8C112233");
    assertEquals(ok.status, 200);
    assertEquals(typeof ok.body.password, "string");
    // another bench, and another unit, are still refused
    assertEquals((await ask("bench-b", "obk8C112233")).status, 403);
    assertEquals((await ask("bench-a", "obk8C999999")).status, 403);
  } finally {
    await srv.close();
  }
});
