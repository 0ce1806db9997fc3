import { assert, assertEquals } from "@std/assert";
import mqtt from "mqtt";
import { startTestServer } from "../helpers/server.ts";
import { createUnit } from "../../server/inventory/units.ts";

Deno.test("calibration records: bench record with history, apply to a deployed unit over MQTT, record page", async () => {
  const srv = await startTestServer();
  const client = await mqtt.connectAsync(srv.brokerUrl, {
    ...(await srv.deviceCredentials("obk8C112233")),
    protocolVersion: 4,
  });
  try {
    const unit = await createUnit(srv.kv, { topic: "obk8C112233", meteringChip: "BL0942", model: "pziot-e01" }, {
      by: "test",
    });
    const post = (path: string, body: unknown) =>
      srv.api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

    // a BL0942 reading 3 % high on power under a 60 W bulb
    const bench = {
      chip: "BL0942",
      reference: { voltage: 230, current: 0.261, power: 60 },
      raw: { voltage: 3493240, current: 65566, power: 36956 },
      oldFactors: { voltage: 15188, current: 251210, power: 598 },
      benchHost: "bench-1",
    };
    let r = await post(`/api/units/${unit.id}/calibrations`, bench);
    assertEquals(r.status, 201, await r.clone().text());
    const rec = await r.json();
    assertEquals([rec.seq, rec.kind, rec.mode], [1, "divide", "bench"]);
    assert(Math.abs(rec.errorBeforePct.power - 3) < 0.1);
    assert(Math.abs(rec.errorAfterPct.power) < 1e-9);
    assertEquals(rec.factors.power, 36956 / 60);

    // a second bench run keeps the first
    await (await post(`/api/units/${unit.id}/calibrations`, {
      ...bench,
      raw: { ...bench.raw, power: 35900 },
    })).body?.cancel();
    // invalid input and "no load" are rejected, not stored
    assertEquals(
      (await (await post(`/api/units/${unit.id}/calibrations`, { ...bench, chip: "XYZ" })).json()).error.includes(
        "chip",
      ),
      true,
    );
    const noLoad = await post(`/api/units/${unit.id}/calibrations`, { ...bench, raw: { ...bench.raw, power: 0 } });
    assertEquals(noLoad.status, 422);
    await noLoad.body?.cancel();

    // apply to the deployed unit: OBK's VoltageSet/CurrentSet/PowerSet arrive on its cmnd topics
    const got: [string, string][] = [];
    await client.subscribeAsync("cmnd/obk8C112233/+", { qos: 1 });
    const arrived = new Promise<void>((resolve) =>
      client.on("message", (t, p) => {
        got.push([t, p.toString()]);
        if (got.length === 3) resolve();
      })
    );
    r = await post(`/api/units/${unit.id}/calibrations/apply`, {
      reference: { voltage: 231.5, current: 0.26, power: 60.2 },
    });
    assertEquals(r.status, 201);
    await r.body?.cancel();
    await arrived;
    assertEquals(got, [["cmnd/obk8C112233/VoltageSet", "231.5"], ["cmnd/obk8C112233/CurrentSet", "0.26"], [
      "cmnd/obk8C112233/PowerSet",
      "60.2",
    ]]);

    const hist = await (await srv.api(`/api/units/${unit.id}/calibrations`)).json();
    // who calibrated is the signed-in user (the test's admin session), never a body field
    assertEquals(hist.map((h: { seq: number; by: string; mode: string }) => [h.seq, h.by, h.mode]), [
      [1, "test-admin", "bench"],
      [2, "test-admin", "bench"],
      [3, "test-admin", "deployed"],
    ]);

    const page = await srv.api(`/units/${unit.id}/calibration`);
    const html = await page.text();
    assertEquals(page.status, 200);
    assert(html.includes("bench-1") && html.includes("VoltageSet 231.5") && html.includes("+3.0"), html.slice(0, 400));
  } finally {
    await client.endAsync();
    await srv.close();
  }
});
