/**
 * Randomised faults during a flash batch: the agent's `flash batch` process and
 * the server process are SIGKILLed at random points while three simulated
 * BK7231N units are backed up, uploaded, written and registered; the operator
 * then power-cycles the unfinished units and runs the same command again.
 * Must hold: every completed backup (each verified file in the backup dir) is
 * stored on the server exactly once (one blob, one record, listed once on its
 * unit) and its bytes hash to its name; each unit's original stock image is
 * among them; every unit ends flashed. FAULT_SEED replays a run.
 */
import { firmwareLabel, identifyFirmware } from "../../shared/firmware-id.ts";
import { assert, assertEquals } from "@std/assert";
import { Bk7231Sim } from "../../edge-agent/sim/bk7231.ts";
import { sha256Hex } from "../../edge-agent/flash/jobs.ts";
import { getBlob, getBlobMeta } from "../../server/kv/blobs.ts";
import { loadBackupKey } from "../../server/auth/backup_key.ts";
import { getBackup, listBackupsForMac } from "../../server/flash/store.ts";
import { findUnitByMac } from "../../server/inventory/units.ts";
import { freePort } from "../helpers/net.ts";
import { processAgentCredentials, spawnServer } from "../helpers/server_process.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { fakeObkImage, quiet } from "../flash/helpers.ts";
import { seededRandom } from "../../shared/random.ts";

const SEED = Number(Deno.env.get("FAULT_SEED") ?? (Date.now() & 0x7fffffff));
const MAX_ROUNDS = 10;
const IMAGE_NAME = "OpenBK7231N_UA_1.18.299.bin";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const REPEATS = Number(Deno.env.get("FLASH_FAULT_REPEATS") ?? 2);

Deno.test("random kills of the flash agent and the server during a batch: every completed backup stored exactly once and verified", async () => {
  const r = seededRandom(SEED);
  for (let rep = 0; rep < REPEATS; rep++) await flashRun(r, rep);
});

// how inventory records the image: chip + version read from it (here from its release name)
const IMAGE_LABEL = firmwareLabel(identifyFirmware(new Uint8Array(0), IMAGE_NAME));

async function flashRun(r: () => number, rep: number) {
  await withTempDir(async (dir) => {
    const env = { DATA_DIR: `${dir}/srv`, PORT: String(freePort()), MQTT_PORT: String(freePort()) };
    const creds = await processAgentCredentials(env, "bench-flt");
    const macs = [1, 2, 3].map((i) => `c8:47:8c:a${rep}:00:0${i}`);
    const sims = macs.map((mac) =>
      Bk7231Sim.start({ chip: "bk7231n", mac, log: quiet, timing: { resetWindowMs: 10_000 } })
    );
    const originals = await Promise.all(sims.map((s) => sha256Hex(s.flash.data.slice())));
    await Deno.writeFile(`${dir}/${IMAGE_NAME}`, fakeObkImage(0x40000));
    let srv = await spawnServer(env);
    const kv = await Deno.openKv(`${env.DATA_DIR}/meterfleet.kv`);
    // backups are sealed with the key the server process created in DATA_DIR
    const backupKey = await loadBackupKey({ env: null, dataDir: env.DATA_DIR });
    const faults = { server: 0, agent: 0 };
    const log: string[] = [];
    try {
      const done = async (i: number) =>
        ((await findUnitByMac(kv, macs[i]))?.flashes ?? []).some((f) => f.firmware === IMAGE_LABEL);
      let rounds = 0;
      for (; rounds < MAX_ROUNDS; rounds++) {
        const todo = [];
        for (let i = 0; i < sims.length; i++) if (!await done(i)) todo.push(i);
        if (todo.length === 0) break;
        for (const i of todo) sims[i].reset(); // the operator power-cycles what is not finished
        const proc = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../../edge-agent/main.ts", import.meta.url).pathname,
            "flash",
            "batch",
            ...todo.flatMap((i) => ["--port", sims[i].path]),
            "--image",
            `${dir}/${IMAGE_NAME}`,
            "--backup-dir",
            `${dir}/backups`,
            "--state-dir",
            `${dir}/state`,
            "--server",
            `http://127.0.0.1:${env.PORT}`,
            "--agent-id",
            "bench-flt",
            "--batch-id",
            `flt-${rounds}`,
            "--baud",
            "2000000",
            "--link-timeout",
            "8",
            "--log-level",
            "error",
          ],
          env: { AGENT_TOKEN: creds.token },
          stdout: "null",
          stderr: "null",
        }).spawn();
        // no fault in the last rounds, so the run converges
        const fault = rounds >= MAX_ROUNDS - 3 ? "none" : (["server", "agent"] as const)[Math.floor(r() * 2)];
        const at = 100 + Math.floor(r() * 1100); // a 3-unit batch takes ~1.5-3 s here
        let killedAgent = false;
        let exited = false;
        const statusP = proc.status.then((s) => {
          exited = true;
          return s;
        });
        let injected = false;
        const injector = (async () => {
          await sleep(at);
          if (exited || fault === "none") return; // the batch finished first: no fault this round
          injected = true;
          faults[fault]++;
          if (fault === "agent") {
            try {
              proc.kill("SIGKILL");
              killedAgent = true;
            } catch { /* already finished */ }
          } else if (fault === "server") {
            await srv.kill();
            await sleep(Math.floor(r() * 800));
            srv = await spawnServer(env);
          }
        })();
        const status = await statusP;
        await injector;
        log.push(
          `round ${rounds}: units ${todo.join(",")}, ${injected ? `${fault} killed at ${at} ms` : "no fault"} → ` +
            `${killedAgent ? "killed" : `exit ${status.code}`}`,
        );
      }
      assert(
        rounds < MAX_ROUNDS,
        `batch did not converge: ${log.join("; ")} ${JSON.stringify(await findUnitByMac(kv, macs[0]))}`,
      );

      // every completed (verified, renamed) backup file is on the server exactly once, and verified
      const files = [...Deno.readDirSync(`${dir}/backups`)].filter((e) =>
        /^[a-z0-9]+-[0-9a-f]{12}-[0-9a-f]{12}\.bin$/i.test(e.name)
      );
      const shas = new Set<string>();
      for (const f of files) {
        const bytes = await Deno.readFile(`${dir}/backups/${f.name}`);
        const sha = await sha256Hex(bytes);
        assert(f.name.endsWith(`${sha.slice(0, 12)}.bin`), `${f.name} does not hash to its name`);
        shas.add(sha);
        const rec = await getBackup(kv, sha);
        assert(rec, `completed backup ${f.name} not stored on the server`);
        const blob = await getBlob(kv, sha, backupKey);
        assertEquals(blob ? await sha256Hex(blob) : null, sha, `${f.name}: stored bytes do not verify`);
        assertEquals((await getBlobMeta(kv, sha))?.size, bytes.length);
      }
      const unlinked: string[] = [];
      for (let i = 0; i < sims.length; i++) {
        assert(
          shas.has(originals[i]),
          `unit ${macs[i]}: its stock image backup is missing (${originals[i].slice(0, 12)} not in ${
            [...shas].map((s) => s.slice(0, 12))
          }; ${log.join("; ")}; files ${files.map((f) => f.name)})`,
        );
        const unit = (await findUnitByMac(kv, macs[i]))!;
        const ids = unit.backups.map((b) => b.backupId);
        assertEquals(ids.length, new Set(ids).size, `unit ${macs[i]} lists a backup twice`);
        // the stock image must stay findable for the unit (restore): by MAC on the server
        const byMac = (await listBackupsForMac(kv, macs[i])).map((b) => b.sha256);
        assert(byMac.includes(originals[i]), `unit ${macs[i]}: stock backup not findable by its MAC`);
        // FINDING (reported, not failed): when a write was interrupted and the batch re-run, the re-run backs up
        // the half-written chip and the unit record links only that backup, not the stock one
        if (!ids.includes(originals[i])) {
          unlinked.push(`${macs[i]} links ${ids.map((x) => x.slice(0, 8))}, stock ${originals[i].slice(0, 8)}`);
        }
      }
      // nothing stored that no completed backup explains
      let records = 0;
      for await (const _ of kv.list({ prefix: ["flash_backup"] })) records++;
      assertEquals(records, shas.size, "backup records without a completed backup file");
      console.log(
        `flash fault run ${rep} (seed ${SEED}): ${rounds} rounds, faults injected ${faults.server + faults.agent} ` +
          `(server ${faults.server}, agent ${faults.agent}), ${files.length} completed backups, ${shas.size} stored once each, ` +
          `${sims.length} units flashed, stock backup not linked on the unit record: ${
            unlinked.length ? unlinked.join("; ") : "none"
          }` +
          `\n  ${log.join("\n  ")}`,
      );
      // a re-run after an interrupted write backs up the half-written chip; the stock backup must stay linked
      assertEquals(unlinked, [], "stock backup not linked on the unit record");
    } finally {
      kv.close();
      await srv.kill();
      for (const s of sims) await s.stop();
    }
  });
}
