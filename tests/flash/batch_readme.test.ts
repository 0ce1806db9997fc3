// The README's batch command, as a new user runs it: three `deno task sim bk7231` simulators started with
// default options (so three stock images that differ only by the MAC the simulator derives from its pty),
// `deno task agent flash batch --port … --port … --port … --image … --provision p.json --server … --agent-id …
// --token …`, all real processes against a real server. Every port must succeed in one run, inventory must hold
// three distinct units with their backups and true firmware/model/chip fields, and running the same command
// again must flash nothing and say which ports it skipped.
import { assert, assertEquals, assertMatch, assertNotEquals, assertStringIncludes } from "@std/assert";
import { listUnits, unitRevisions } from "../../server/inventory/units.ts";
import { getBackup } from "../../server/flash/store.ts";
import { startTestServer } from "../helpers/server.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { fakeObkImage } from "./helpers.ts";
import { agentCli, startSimCli } from "./cli_helpers.ts";

Deno.test("README batch: three default simulators, one run, three units; a second run flashes nothing", async () => {
  const ts = await startTestServer();
  const sims = await Promise.all([0, 1, 2].map(() => startSimCli([])));
  try {
    await withTempDir(async (dir) => {
      const { token } = await ts.agentCredentials("bench-1");
      await Deno.writeFile(`${dir}/OpenBK7231N_UA_1.18.299.bin`, fakeObkImage(0x40000));
      await Deno.writeTextFile(
        `${dir}/p.json`,
        JSON.stringify({
          wifi: { ssid: "house", password: "pw" },
          mqtt: { host: "10.0.0.2", credentials: "server" },
          profile: "zmai-90",
        }),
      );
      const batch = () =>
        agentCli([
          "flash",
          "batch",
          ...sims.flatMap((s) => ["--port", s.path]),
          "--image",
          `${dir}/OpenBK7231N_UA_1.18.299.bin`,
          "--provision",
          `${dir}/p.json`,
          "--server",
          ts.url,
          "--agent-id",
          "bench-1",
          "--token",
          token!,
          "--backup-dir",
          `${dir}/backups`,
          "--state-dir",
          `${dir}/state`,
        ]);
      const first = await batch();
      assertEquals(first.code, 0, first.stdout + first.stderr);
      for (const s of sims) assertMatch(first.stdout, new RegExp(`${s.path}: OK`));

      const units = await listUnits(ts.kv);
      assertEquals(units.length, 3, JSON.stringify(units.map((u) => u.id)));
      assertEquals(new Set(units.map((u) => u.mac)).size, 3);
      for (const u of units) {
        assertEquals(u.chip, "BK7231N");
        assertEquals(u.model, "zmai-90");
        assertEquals(u.module, "CBU");
        assertEquals(u.meteringChip, "RN8209C");
        // chip + version read from the image name (a fake image carries no version string), never a host path
        assertEquals(u.firmwareReported, "1.18.299");
        assertEquals(u.flashes.length, 1);
        assertEquals(u.flashes[0].firmware, "OpenBeken 1.18.299 (BK7231N)");
        assert(!u.flashes[0].firmware?.includes(dir), "the host path is not a record");
        assertEquals(u.flashes[0].firmwareSha256?.length, 64);
        assertEquals(u.backups.length, 1);
        const b = await getBackup(ts.kv, u.backups[0].backupId);
        assertEquals(b?.mac, u.mac);
        assertEquals(b?.size, 0x200000);
      }
      assertEquals(new Set(units.map((u) => u.backups[0].backupId)).size, 3);
      let staged = 0;
      for await (const _ of ts.kv.list({ prefix: ["flash_upload"] })) staged++;
      assertEquals(staged, 0, "every upload's staging parts are gone after its commit");

      const writesBefore = sims.map((s) => s.path);
      const second = await batch();
      assertEquals(second.code, 0, second.stdout + second.stderr);
      for (const p of writesBefore) assertMatch(second.stdout, new RegExp(`${p}: skipped`));
      assertStringIncludes(second.stdout, "already done");
      const after = await listUnits(ts.kv);
      assertEquals(after.length, 3);
      for (const u of after) assertEquals(u.flashes.length, 1, `${u.id} was not flashed again`);

      // the second run wrote nothing: every simulator saw the same writes (one image and one config sector)
      const stats = await Promise.all(sims.slice(1).map((s) => s.stop()));
      const writes = stats.map((s) => JSON.parse(s.err.trim().split("\n").at(-1)!).stats.writes as number);
      assertNotEquals(writes[0], 0);
      assertEquals(new Set(writes).size, 1, JSON.stringify(writes));

      // a later `flash write` and `flash restore` of the stock backup on the first port report like the batch
      const common = ["--port", sims[0].path, "--server", ts.url, "--agent-id", "bench-1", "--token", token!];
      const stateDir = ["--state-dir", `${dir}/state`];
      const w = await agentCli([
        "flash",
        "write",
        "--image",
        `${dir}/OpenBK7231N_UA_1.18.299.bin`,
        ...common,
        ...stateDir,
      ]);
      assertEquals(w.code, 0, w.stdout + w.stderr);
      const unit0 = units.find((u) => u.id === (after.find((x) => x.backups.length && w.stdout.includes(x.mac!)))?.id);
      assert(unit0, w.stdout);
      const r = await agentCli(["flash", "restore", "--backup-id", unit0.backups[0].backupId, ...common, ...stateDir]);
      assertEquals(r.code, 0, r.stdout + r.stderr);
      const restored = (await listUnits(ts.kv)).find((u) => u.id === unit0.id)!;
      assertEquals(restored.flashes.map((f) => f.kind), ["batch", "write", "restore"]);
      assertEquals(restored.flashes[1].firmware, "OpenBeken 1.18.299 (BK7231N)");
      assertEquals(restored.flashes[2].firmware, `stock firmware (backup ${unit0.backups[0].backupId.slice(0, 12)})`);
      assertEquals(restored.firmwareReported, "stock firmware");
      const history = await unitRevisions(ts.kv, unit0.id);
      assertEquals(history.map((h) => h.reason).slice(-2), ["flashed on bench", "restored on bench"]);
    });
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
    await ts.close();
  }
});
