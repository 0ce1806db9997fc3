/**
 * `deno task admin unit-secret` (any admin command) without DATA_DIR/KV_PATH where ./data holds no KV
 * refuses with a clear message and creates nothing: it used to create ./data with a fleet secret the
 * running server never had, so units provisioned with it never connected.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { unitSecret } from "../../server/auth/tokens.ts";
import { withTempDir } from "../helpers/tmp.ts";

const cli = new URL("../../server/auth/cli.ts", import.meta.url).pathname;

async function admin(cwd: string, env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("admin unit-secret: no DATA_DIR and no ./data → refused, nothing created; the server's KV → its secret", async () => {
  await withTempDir(async (dir) => {
    const bare = await admin(dir, { PATH: Deno.env.get("PATH") ?? "" }, "unit-secret");
    assertEquals(bare.code, 1);
    assertStringIncludes(bare.stderr, "no meterfleet KV at ./data/meterfleet.kv");
    assertStringIncludes(bare.stderr, "DATA_DIR");
    assertEquals(bare.stdout, "");
    assert(!(await Deno.stat(`${dir}/data`).then(() => true, () => false)), "./data was created");

    // the server's data directory (a KV the server made, with its secret)
    await Deno.mkdir(`${dir}/srv`);
    const kv = await Deno.openKv(`${dir}/srv/meterfleet.kv`);
    const secret = await unitSecret(kv, true);
    kv.close();
    const ok = await admin(dir, { PATH: Deno.env.get("PATH") ?? "", DATA_DIR: `${dir}/srv` }, "unit-secret");
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(ok.stdout.trim(), secret);
    // a ./data that holds the server's KV (the server runs from this directory) is found without DATA_DIR
    await Deno.rename(`${dir}/srv`, `${dir}/data`);
    const here = await admin(dir, { PATH: Deno.env.get("PATH") ?? "" }, "unit-secret");
    assertEquals(here.code, 0, here.stderr);
    assertEquals(here.stdout.trim(), secret);
  });
});
