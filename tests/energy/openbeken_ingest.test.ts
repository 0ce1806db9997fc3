import { assertEquals, assertGreater } from "@std/assert";
import { getUnitPresence, getUnitPresenceByMac } from "../../server/openbeken/presence.ts";
import type { FleetSnapshot } from "../../shared/fleet.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";
import { ObkUnit } from "./obk_unit.ts";

Deno.test("a unit seen only on OpenBeken topics appears on the dashboard with live power", async () => {
  const srv = await startTestServer();
  const unit = await ObkUnit.connect(srv, "obk8C112233");
  try {
    // the BL0942 self-test stream (openbeken.md §1.2)
    await unit.value("voltage", "230.0");
    await unit.value("current", "0.260");
    await unit.value("138", "50.00");
    await unit.value("energycounter", "63.888");
    await unit.value("power", "60.00");
    const m = await waitFor(async () => {
      const s = await (await srv.api("/api/meters")).json() as FleetSnapshot;
      return s.meters.find((x) => x.deviceId === "obk8C112233" && x.reading.power === 60);
    }, { what: "OBK unit with 60 W in /api/meters" });
    assertEquals(m.agentId, "openbeken");
    assertEquals([m.reading.voltage, m.reading.current, m.reading.frequency, m.reading.energyWh], [
      230,
      0.26,
      50,
      63.888,
    ]);
    const page = await (await srv.api("/")).text();
    assertEquals(page.includes("obk8C112233"), true);

    await unit.value("power", "75.50");
    await waitFor(async () => {
      const s = await (await srv.api("/api/meters")).json() as FleetSnapshot;
      return s.meters.find((x) => x.deviceId === "obk8C112233")?.reading.power === 75.5;
    }, { what: "live power moves" });
    const hist = await (await srv.api(`/api/meters/obk8C112233/history?from=0&to=${Date.now() + 1000}`)).json();
    assertEquals(hist.points.map((p: { power: number }) => p.power).slice(-2), [60, 75.5]);
  } finally {
    await unit.close();
    await srv.close();
  }
});

Deno.test("presence: build/version, MAC index, uptime-falling reboot, LWT offline, bus events", async () => {
  const srv = await startTestServer();
  const events: string[] = [];
  const off = srv.server.ctx.bus.on("openbeken.unit", (e) => {
    if (e.topic === "obkAABBCCDD") {
      events.push(e.change + (e.change === "version" ? `:${e.previousVersion}→${e.presence.version}` : ""));
    }
  });
  let unit = await ObkUnit.connect(srv, "obkAABBCCDD");
  try {
    await unit.item("host", "obkAABBCCDD");
    await unit.item("build", "OpenBK7231N 1.18.200 Jul  4 2025 10:41:55");
    await unit.item("mac", "c8:47:8c:aa:bb:cc");
    await unit.item("ip", "192.168.1.77");
    await unit.item("uptime", "900");
    const p1 = await waitFor(async () =>
      (await getUnitPresence(srv.kv, "obkAABBCCDD"))?.uptimeS === 900
        ? await getUnitPresence(srv.kv, "obkAABBCCDD")
        : null
    );
    assertEquals([p1.online, p1.version, p1.chip, p1.mac, p1.ip, p1.reboots], [
      true,
      "1.18.200",
      "BK7231N",
      "c8:47:8c:aa:bb:cc",
      "192.168.1.77",
      0,
    ]);
    assertEquals((await getUnitPresenceByMac(srv.kv, "C8:47:8C:AA:BB:CC"))?.topic, "obkAABBCCDD");

    // OTA-style reboot: gone without a will (graceful), back with a small uptime and a new build
    await unit.close();
    unit = await ObkUnit.connect(srv, "obkAABBCCDD");
    await unit.item("build", "OpenBK7231N 1.18.299 Jul 24 2026 10:41:55");
    await unit.item("uptime", "4");
    const p2 = await waitFor(async () => {
      const p = await getUnitPresence(srv.kv, "obkAABBCCDD");
      return p?.uptimeS === 4 ? p : null;
    });
    assertEquals([p2.version, p2.reboots, p2.online], ["1.18.299", 1, true]);
    assertGreater(p2.bootedAt!, p1.bootedAt!);

    // power cut: the broker publishes the will
    await unit.crash();
    const p3 = await waitFor(async () => {
      const p = await getUnitPresence(srv.kv, "obkAABBCCDD");
      return p && !p.online ? p : null;
    }, { what: "offline from the LWT" });
    assertEquals(p3.offlineSince !== null, true);
    await waitFor(() => events.includes("offline"));
    assertEquals(events[0], "discovered");
    assertEquals(events.includes("version:null→1.18.200"), true);
    assertEquals(events.includes("version:1.18.200→1.18.299"), true);
    assertEquals(events.filter((e) => e === "rebooted").length, 1);
  } finally {
    off();
    await unit.close().catch(() => {});
    await srv.close();
  }
});

Deno.test("garbage OpenBeken payloads are counted as rejections, not stored", async () => {
  const srv = await startTestServer();
  const unit = await ObkUnit.connect(srv, "obk00000001");
  try {
    await unit.value("power", "NaN");
    await unit.value("current", "25000.0"); // uncalibrated CSE7766 current
    await unit.value("power", "5.00");
    await waitFor(async () => (await getUnitPresence(srv.kv, "obk00000001"))?.live.power === 5);
    const health = await waitFor(async () => {
      const h = await (await srv.api("/api/health")).json();
      return h.ingest.rejected_by_code.openbeken_bad_number && h.ingest.rejected_by_code.openbeken_out_of_range
        ? h
        : null;
    });
    assertEquals([
      health.ingest.rejected_by_code.openbeken_bad_number,
      health.ingest.rejected_by_code.openbeken_out_of_range,
    ], [1, 1]);
    assertEquals((await getUnitPresence(srv.kv, "obk00000001"))?.live.current, undefined);
  } finally {
    await unit.close();
    await srv.close();
  }
});

Deno.test("energy unit override: a flag-40 unit without discovery publishes kWh", async () => {
  const srv = await startTestServer();
  const unit = await ObkUnit.connect(srv, "obkKWH0002");
  try {
    await unit.value("energycounter", "12.345");
    await waitFor(async () => (await getUnitPresence(srv.kv, "obkKWH0002"))?.live.energyWh === 12.345);
    const put = (body: unknown) =>
      srv.api("/api/openbeken/units/obkKWH0002/energy-unit", {
        method: "PUT",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      });
    assertEquals((await put({ energyUnit: "MWh" })).status, 400);
    const ok = await put({ energyUnit: "kWh" });
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
    await unit.value("energycounter", "12.346");
    const p = await waitFor(async () => {
      const x = await getUnitPresence(srv.kv, "obkKWH0002");
      return x?.live.energyWh === 12346 ? x : null;
    }, { what: "counter read as kWh" });
    assertEquals(p.energyUnit, "kWh");
  } finally {
    await unit.close();
    await srv.close();
  }
});
