/**
 * `deno task admin upload-firmware <file>`: registers an image in the server's KV the way the /firmware page does
 * (same checks, same record), prints its id for scripts, and refuses a truncated or corrupted RBL with the reason
 * and a non-zero exit, storing nothing.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { buildFakeRbl, fakeRblName } from "../../edge-agent/sim/obk-image.ts";
import { openKv } from "../../server/app.ts";
import { listFirmware } from "../../server/firmware/store.ts";

async function admin(dir: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../server/auth/cli.ts", import.meta.url).pathname, ...args],
    env: { DATA_DIR: dir, KV_PATH: `${dir}/meterfleet.kv`, LOG_LEVEL: "error" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("admin upload-firmware: registers a good RBL and prints its id; a truncated or corrupted one is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-cli-" });
  try {
    const good = buildFakeRbl({ chip: "BK7231T", version: "1.18.301", size: 50_000 });
    const file = `${dir}/${fakeRblName("BK7231T", "1.18.301")}`;
    await Deno.writeFile(`${file}.part`, good.subarray(0, 30_000));
    await Deno.rename(`${file}.part`, file);
    const truncated = await admin(dir, "upload-firmware", file);
    assertEquals(truncated.code, 1);
    assertMatch(
      truncated.stderr,
      /^error: refused: corrupt RBL package: RBL header announces 50000 package bytes, file has 29904 \(truncated\)$/,
    );

    const bad = good.slice();
    bad[40_000] ^= 0x80;
    await Deno.writeFile(file, bad);
    assertMatch(
      (await admin(dir, "upload-firmware", file)).stderr,
      /^error: refused: corrupt RBL package: RBL package CRC mismatch/,
    );

    await Deno.writeFile(file, good);
    const ok = await admin(dir, "upload-firmware", file, "--notes", "from a script");
    assertEquals(ok.code, 0, ok.stderr);
    assertMatch(ok.stdout, /^fw-[0-9a-f]{12}$/);
    assertMatch(
      ok.stderr,
      /^registered OpenBK7231T_1\.18\.301\.rbl \(rbl, BK7231T 1\.18\.301, 50096 bytes, sha256 [0-9a-f]{64}\)$/,
    );
    const again = await admin(dir, "upload-firmware", file);
    assertEquals([again.code, again.stdout, again.stderr], [
      0,
      ok.stdout,
      "OpenBK7231T_1.18.301.rbl was already registered",
    ]);

    const kv = await openKv(`${dir}/meterfleet.kv`);
    try {
      const fw = await listFirmware(kv);
      assertEquals(fw.map((f) => [f.id, f.platform, f.version, f.notes, f.uploadedBy, f.otaAllowed]), [
        [ok.stdout, "BK7231T", "1.18.301", "from a script", "cli", true],
      ]);
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
