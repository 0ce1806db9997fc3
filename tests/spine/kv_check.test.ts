import { assert, assertEquals } from "@std/assert";
import { scanKv } from "../../server/kv/check.ts";
import { withTempDir } from "../helpers/tmp.ts";

Deno.test("KV full-read check: reads every entry; a stop signal ends it early instead of holding shutdown up", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/k.kv`);
    try {
      for (let i = 0; i < 3000; i += 500) {
        const op = kv.atomic();
        for (let j = i; j < i + 500; j++) op.set(["x", j], j);
        await op.commit();
      }
      const full = await scanKv(kv);
      assertEquals([full.ok, full.entries], [true, 3000]);
      const stop = new AbortController();
      stop.abort();
      const cut = await scanKv(kv, Date.now(), stop.signal);
      assert(cut.entries < 3000, `stopped after ${cut.entries} entries`);
    } finally {
      kv.close();
    }
  });
});
