/**
 * A spool's epoch: made once with the spool, kept across restarts, new when
 * the spool is new; the server's ledger tells batches of two spools apart and
 * still dedupes batches from before epochs as it did.
 */
import { assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import { TelemetrySpool } from "../../edge-agent/uplink/spool.ts";
import { commitParts, IngestCache, splitBatch } from "../../server/meters/store.ts";
import type { Reading } from "../../shared/telemetry.ts";
import { withKv, withTempDir } from "../helpers/tmp.ts";

const T0 = Date.UTC(2026, 10, 22, 8);
const reading = (ts: number): Reading => ({
  deviceId: "sim-01",
  ts,
  voltage: 230,
  current: 1,
  power: 230,
  energyWh: 1,
});

Deno.test("a spool's epoch is made with it, survives reopening, and a fresh spool gets another", async () => {
  await withTempDir(async (dir) => {
    const a = await TelemetrySpool.open(`${dir}/spool`);
    assertMatch(a.epoch, /^[0-9a-f]{16}$/);
    assertEquals((await TelemetrySpool.open(`${dir}/spool`)).epoch, a.epoch);
    await Deno.remove(`${dir}/spool`, { recursive: true });
    const b = await TelemetrySpool.open(`${dir}/spool`);
    assertNotEquals(b.epoch, a.epoch);
    assertEquals(await b.nextSeq(), 0);
  });
});

Deno.test("the ledger keys batches by (epoch, seq): a new spool's batch 0 is new; replays within a spool and batches from before epochs are duplicates", async () => {
  await withKv(async (kv) => {
    const cache = new IngestCache();
    const commit = async (epoch: string | undefined, seq: number, ts: number) => {
      const out = await commitParts(
        kv,
        splitBatch({ v: 1, agentId: "bench-a", ...(epoch ? { epoch } : {}), seq, readings: [reading(ts)] }),
        ts,
        cache,
      );
      return out.duplicate.length > 0 ? "duplicate" : "committed";
    };
    assertEquals(await commit(undefined, 0, T0), "committed"); // an agent from before epochs
    assertEquals(await commit(undefined, 0, T0), "duplicate");
    assertEquals(await commit("00112233aabbccdd", 0, T0 + 1000), "committed");
    assertEquals(await commit("00112233aabbccdd", 0, T0 + 1000), "duplicate");
    assertEquals(await commit("ffeeddccbbaa9988", 0, T0 + 2000), "committed"); // the spool was wiped
  });
});
