/**
 * The issue-5 OpenBeken simulator (device side, its own formatting) against
 * our ingest: the unit is linked to its inventory record by MAC, inventory
 * learns the reported firmware, and the unit's energy goes to the inventory's
 * site. Raw history past the retention window is pruned; rollups stay.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { ObkSimUnit } from "../../edge-agent/sim/openbeken.ts";
import { energySeries, pruneMinuteRollups, stateKey, type StoredEnergyState } from "../../server/energy/store.ts";
import { compactLog, countHistory, pruneHistory } from "../../server/history/store.ts";
import { addReadings } from "../../server/meters/store.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import { createUnit, getUnit } from "../../server/inventory/units.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";

Deno.test("simulated OBK unit: linked to inventory by MAC, firmware reported, energy attributed to the inventory site", async () => {
  const srv = await startTestServer();
  const sim = new ObkSimUnit({
    index: 4242,
    meterIntervalMs: 100,
    itemGapMs: 5,
    credentials: (t) => srv.deviceCredentials(t),
  });
  const inv = await createUnit(srv.kv, { mac: sim.mac, site: "depot-a", model: "zmai-90" }, { by: "test" });
  try {
    await sim.start(srv.brokerUrl);
    const p = await waitFor(async () => {
      const x = await getUnitPresence(srv.kv, sim.topic);
      return x?.mac === sim.mac && x.version && x.live.energyWh ? x : null;
    }, { what: "presence with MAC, version and counter" });
    assertEquals([p.version, p.chip, p.online], ["1.18.299", "BK7231N", true]);
    await waitFor(async () => (await getUnit(srv.kv, inv.id))?.firmwareReported === "1.18.299", {
      what: "inventory firmwareReported",
    });
    const st = await waitFor(async () => {
      const s = (await srv.kv.get<StoredEnergyState>(stateKey(sim.topic))).value;
      return s && s.totalMwh > 0 && s.site === "depot-a" ? s : null;
    }, { what: "energy counted for the inventory site" });
    assertEquals(st.site, "depot-a");
    const site = await energySeries(srv.kv, "site", "depot-a", "day", 0, Date.now() + 86_400_000);
    assertGreater(site.reduce((s, x) => s + x.wh, 0), 0);
  } finally {
    await sim.stop();
    await srv.close();
  }
});

Deno.test("raw history older than the retention window is pruned; rollups are not", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/r.kv`);
    try {
      const now = Date.UTC(2026, 10, 21);
      const mk = (ts: number) => ({ deviceId: "m1", ts, voltage: 230, current: 1, power: 230, energyWh: 1 });
      const op = kv.atomic();
      addReadings(
        op,
        [mk(now - 9 * 86_400_000), mk(now - 8 * 86_400_000), mk(now - 6 * 86_400_000), mk(now - 1000)],
        now,
      );
      op.sum(["energy", "unit", "m1", "day", now - 9 * 86_400_000], 5000n);
      op.sum(["energy", "unit", "m1", "minute", now - 9 * 86_400_000], 5000n);
      op.set(["energy_state", "m1"], { deviceId: "m1", site: null });
      await op.commit();
      assertEquals(await countHistory(kv, "m1"), 4, "readings are history while still in the ingest log");
      assertEquals(await pruneHistory(kv, now - 7 * 86_400_000), 0, "the log is not pruned: it is compacted first");
      assertEquals((await compactLog(kv)).readings, 4);
      assertEquals(await countHistory(kv, "m1"), 4, "and the same history after compaction");
      assertEquals(await pruneHistory(kv, now - 7 * 86_400_000), 2);
      assertEquals(await countHistory(kv, "m1"), 2);
      assertEquals((await energySeries(kv, "unit", "m1", "day", 0, now)).map((p) => p.wh), [5]);
      // minute rollups only when a retention is configured
      assertEquals(await pruneMinuteRollups(kv, now - 7 * 86_400_000), 1);
      assertEquals((await energySeries(kv, "unit", "m1", "minute", 0, now)).length, 0);
      assertEquals((await energySeries(kv, "unit", "m1", "day", 0, now)).length, 1);
    } finally {
      kv.close();
    }
  });
});
