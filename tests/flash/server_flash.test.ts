// Flash jobs against a real server: backups content-addressed in KV (never stored twice, never stored
// when they do not hash to their name), the unit registered in inventory, live batch progress.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { runBatch } from "../../edge-agent/flash/batch.ts";
import { ProgressBoard } from "../../edge-agent/flash/progress.ts";
import { HttpFlashServer } from "../../edge-agent/flash/server-client.ts";
import { sha256Hex } from "../../edge-agent/flash/jobs.ts";
import { Bk7231Sim } from "../../edge-agent/sim/bk7231.ts";
import { getBlob } from "../../server/kv/blobs.ts";
import { getBackup } from "../../server/flash/store.ts";
import { findUnitByMac, findUnitByTopic, getUnit } from "../../server/inventory/units.ts";
import { ObkUnit } from "../energy/obk_unit.ts";
import { unitSecret } from "../../server/auth/tokens.ts";
import { unitMqttCredentials } from "../../shared/obk-config.ts";
import mqtt from "mqtt";
import { provisioning } from "../../edge-agent/flash/provision.ts";
import { systemClock } from "../../shared/clock.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { equalBytes, fakeObkImage, fastOptions, quiet } from "./helpers.ts";

const silentBoard = () => new ProgressBoard({ writeSync: (b) => b.length, isTerminal: () => false });

async function countChunks(kv: Deno.Kv) {
  let n = 0;
  for (const prefix of ["blob_chunk", "blob_sealed"]) for await (const _ of kv.list({ prefix: [prefix] })) n++;
  return n;
}

Deno.test("flash + server: backup stored once in KV, unit registered, batch progress visible", async () => {
  const ts = await startTestServer(); // flashApi is one of the default extensions
  // a generous reset window (as tests/flash/helpers.ts withSim): a loaded CI machine lags past the real 300 ms
  const sim = Bk7231Sim.start({
    chip: "bk7231n",
    mac: "c8:47:8c:12:34:56",
    log: quiet,
    timing: { resetWindowMs: 1500 },
  });
  try {
    await withTempDir(async (dir) => {
      const creds = await ts.agentCredentials("bench-1");
      const server = new HttpFlashServer(ts.url, "bench-1", creds.token);
      const original = sim.flash.data.slice();
      const run = () =>
        runBatch({
          ports: [sim.path],
          image: { name: "OpenBK7231N_UA_1.18.299.bin", data: fakeObkImage(0x40000) },
          backupDir: `${dir}/backups`,
          stateDir: `${dir}/state`,
          server,
          flasher: fastOptions(),
          clock: systemClock,
          log: quiet,
          board: silentBoard(),
          batchId: "house-42",
          provision: provisioning({
            wifi: { ssid: "house", password: "pw" },
            mqtt: { host: "10.0.0.2", credentials: "server" },
            profile: "zmai-90",
          }, server),
          benchHost: "bench-1",
        });
      const [r] = await run();
      if (!r.ok) throw r.error;
      const sha = r.result.backup!.sha256;
      assertEquals(sha, await sha256Hex(original));
      assertEquals(r.result.backupId, sha);
      // sealed with the server's backup key: plain readers (the firmware paths) get nothing
      assertEquals(await getBlob(ts.kv, sha), null);
      assert(equalBytes((await getBlob(ts.kv, sha, ts.server.ctx.backupKey))!, original));
      const rec = await getBackup(ts.kv, sha);
      assertEquals(rec?.mac, "c8:47:8c:12:34:56");
      assertEquals(rec?.agentId, "bench-1");

      const unit = await findUnitByMac(ts.kv, "c8:47:8c:12:34:56");
      assertEquals(unit?.chip, "BK7231N");
      assertEquals(unit?.flashId, "1560eb");
      assertEquals(unit?.backups.map((b) => b.backupId), [sha]);
      assertEquals(unit?.flashes.at(-1)?.firmware, "OpenBeken 1.18.299 (BK7231N)"); // chip + version, not a path
      // the provisioned unit will come online as obk8C123456: inventory knows it by that topic
      assertEquals(unit?.topic, "obk8C123456");
      assertEquals((await findUnitByTopic(ts.kv, "obk8C123456"))?.id, unit?.id);
      // its MQTT password came from the server (derived from the fleet secret the broker checks against)
      const cfg = sim.flash.data.subarray(0x1d1000, 0x1d1000 + 4096);
      const password = new TextDecoder().decode(cfg.subarray(0x214, 0x214 + 128)).replace(/\0.*$/s, "");
      const secret = await unitSecret(ts.kv);
      assertEquals(password, (await unitMqttCredentials(secret!, "obk8C123456")).password);
      const probe = await mqtt.connectAsync(ts.brokerUrl, {
        username: "obk8C123456",
        password,
        clientId: "obk8C123456",
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      await probe.endAsync();
      // ...and when it does come online, the OpenBeken ingest matches it to this record
      const obk = await ObkUnit.connect(ts, "obk8C123456");
      try {
        await obk.item("mac", "c8:47:8c:12:34:56");
        await obk.item("build", "OpenBK7231N 1.18.299 Jul 24 2026 10:41:55");
        let seen = null;
        for (let i = 0; i < 100 && !seen; i++) {
          await new Promise((r) => setTimeout(r, 50));
          seen = (await getUnit(ts.kv, unit!.id))?.lastSeen ?? null;
        }
        assert(seen !== null, "the provisioned unit was matched when it came online");
      } finally {
        await obk.close();
      }

      const batches = await (await ts.api("/api/flash/batches")).json();
      const batch = batches.batches.find((b: { batchId: string }) => b.batchId === "house-42");
      assertEquals(batch.agentId, "bench-1");
      assertEquals(batch.rows[0].port, sim.path);
      assertEquals(batch.rows[0].phase, "done");
      const page = await (await ts.api("/flash")).text();
      assertStringIncludes(page, "Bench flashing");
      assertStringIncludes(page, "house-42");

      // the same backup again (unit unchanged apart from what we wrote): no new chunks, seen twice
      const chunks = await countChunks(ts.kv);
      const again = await server.uploadBackup(
        {
          sha256: sha,
          size: original.length,
          chip: "bk7231n",
          mac: "c8:47:8c:12:34:56",
          benchHost: "bench-1",
          port: sim.path,
        },
        original,
        "rerun~port~1",
      );
      assertEquals(again, sha);
      assertEquals(await countChunks(ts.kv), chunks);
      assertEquals((await getBackup(ts.kv, sha))?.seen, 2);
      // restore path: the stored backup comes back byte for byte
      assert(equalBytes(await server.fetchBlob("backup", sha), original));
    });
  } finally {
    await sim.stop();
    await ts.close();
  }
});

Deno.test("flash + server: an upload that does not hash to its name is refused and not stored", async () => {
  const ts = await startTestServer(); // flashApi is one of the default extensions
  try {
    const creds = await ts.agentCredentials("bench-2");
    const auth: Record<string, string> = creds.token ? { authorization: `Bearer ${creds.token}` } : {};
    const good = fakeObkImage(100_000);
    const sha = await sha256Hex(good);
    const bad = good.slice();
    bad[70_000] ^= 0xff; // one byte flipped in transit / on disk
    const root = `${ts.url}/api/agents/bench-2/flash/backups/${sha}`;
    for (const [i, part] of [bad.subarray(0, 60_000), bad.subarray(60_000)].entries()) {
      const res = await fetch(`${root}/parts/${i}?upload=job~p0~1`, {
        method: "PUT",
        headers: auth,
        body: part.slice(),
      });
      assertEquals(res.status, 204);
    }
    const commit = await fetch(`${root}/commit`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ upload: "job~p0~1", parts: 2, size: bad.length, chip: "bk7231n" }),
    });
    assertEquals(commit.status, 422);
    await commit.body?.cancel();
    assertEquals(await getBackup(ts.kv, sha), null);
    assertEquals(await getBlob(ts.kv, sha), null);
    const tooBig = await fetch(`${root}/parts/0?upload=job~p0~2`, {
      method: "PUT",
      headers: auth,
      body: new Uint8Array(60_001),
    });
    assertEquals(tooBig.status, 413);
    await tooBig.body?.cancel();
  } finally {
    await ts.close();
  }
});

Deno.test("flash + server: the image comes from the firmware store; a backup that never verifies is not uploaded", async () => {
  const { registerFirmware } = await import("../../server/firmware/store.ts");
  const ts = await startTestServer();
  const good = Bk7231Sim.start({
    chip: "bk7231n",
    mac: "c8:47:8c:00:00:0a",
    log: quiet,
    timing: { resetWindowMs: 1500 },
  });
  // the same sector corrupted on every read: the chip CRC never agrees
  const flaky = Bk7231Sim.start({
    chip: "bk7231n",
    mac: "c8:47:8c:00:00:0b",
    log: quiet,
    timing: { resetWindowMs: 1500 },
    faults: { corruptReadAt: Array(10).fill(0x8000) },
  });
  try {
    await withTempDir(async (dir) => {
      const creds = await ts.agentCredentials("bench-3");
      const server = new HttpFlashServer(ts.url, "bench-3", creds.token);
      const fw = fakeObkImage(0x20000, 5);
      const { firmware } = await registerFirmware(ts.kv, {
        filename: "OpenBK7231N_UA_1.18.299.bin",
        bytes: fw,
        by: "test",
      });
      const image = await server.fetchBlob("firmware", firmware.sha256);
      assert(equalBytes(image, fw));
      const results = await runBatch({
        ports: [good.path, flaky.path],
        image: { name: firmware.filename, data: image },
        backupDir: `${dir}/backups`,
        stateDir: `${dir}/state`,
        server,
        flasher: fastOptions(),
        clock: systemClock,
        log: quiet,
        board: silentBoard(),
        benchHost: "bench-3",
      });
      assertEquals(results.map((r) => r.ok), [true, false]);
      assertEquals(!results[1].ok && (results[1].error as { code: string }).code, "VERIFY_FAILED");
      assert(equalBytes(good.flash.data.subarray(0x11000, 0x11000 + fw.length), fw));
      assertEquals(flaky.stats.writes + flaky.stats.erases, 0); // no backup, no write
      const stored: string[] = [];
      for await (const e of ts.kv.list<{ mac: string }>({ prefix: ["flash_backup"] })) stored.push(e.value.mac);
      assertEquals(stored, ["c8:47:8c:00:00:0a"]);
      assertEquals(await findUnitByMac(ts.kv, "c8:47:8c:00:00:0b"), null);
    });
  } finally {
    await good.stop();
    await flaky.stop();
    await ts.close();
  }
});

Deno.test("flash + server: two ports presenting one MAC in a batch: one unit flashed, the other refused, never merged", async () => {
  const ts = await startTestServer();
  const sims = [0, 1].map(() =>
    Bk7231Sim.start({ chip: "bk7231n", mac: "c8:47:8c:00:0c:10", log: quiet, timing: { resetWindowMs: 1500 } })
  );
  try {
    await withTempDir(async (dir) => {
      const creds = await ts.agentCredentials("bench-4");
      const server = new HttpFlashServer(ts.url, "bench-4", creds.token);
      const results = await runBatch({
        ports: sims.map((s) => s.path),
        image: { name: "OpenBK7231N_UA_1.18.299.bin", data: fakeObkImage(0x20000) },
        backupDir: `${dir}/backups`,
        stateDir: `${dir}/state`,
        server,
        flasher: fastOptions(),
        clock: systemClock,
        log: quiet,
        board: silentBoard(),
        benchHost: "bench-4",
      });
      assertEquals(results.filter((r) => r.ok).length, 1);
      const refused = results.find((r) => !r.ok)!;
      const winner = results.find((r) => r.ok)!;
      assertEquals(!refused.ok && (refused.error as { code: string }).code, "REFUSED");
      assertStringIncludes(String((refused as { error: Error }).error.message), `port ${winner.port}`);
      // the refused unit was backed up (its backup is kept) but nothing was written to it
      const loser = sims.find((s) => s.path === refused.port)!;
      assertEquals(loser.stats.writes, 0);
      const unit = await findUnitByMac(ts.kv, "c8:47:8c:00:0c:10");
      assertEquals(unit?.flashes.length, 1);
      assertEquals(unit?.flashes[0].port, winner.port);
    });
  } finally {
    for (const s of sims) await s.stop();
    await ts.close();
  }
});
