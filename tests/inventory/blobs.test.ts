import { assertEquals, assertRejects } from "@std/assert";
import {
  BLOB_CHUNK_SIZE,
  deleteBlob,
  getBlob,
  getBlobMeta,
  openBlobStream,
  putBlob,
  sha256Hex,
} from "../../server/kv/blobs.ts";
import { withTempDir } from "../helpers/tmp.ts";

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

Deno.test("blobs: a 2 MiB blob is stored once in chunks and read back whole and streamed", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/kv.sqlite`);
    try {
      const bytes = randomBytes(2 * 1024 * 1024 + 17);
      const a = await putBlob(kv, bytes);
      assertEquals(a.existed, false);
      assertEquals(a.sha256, await sha256Hex(bytes));
      assertEquals(a.chunks, Math.ceil(bytes.length / BLOB_CHUNK_SIZE));
      const b = await putBlob(kv, bytes.slice());
      assertEquals(b.existed, true);
      let chunkKeys = 0;
      for await (const _ of kv.list({ prefix: ["blob_chunk", a.sha256] })) chunkKeys++;
      assertEquals(chunkKeys, a.chunks);
      assertEquals(await getBlob(kv, a.sha256), bytes);
      let done = false;
      const s = (await openBlobStream(kv, a.sha256, { onDone: () => done = true }))!;
      const streamed = new Uint8Array(await new Response(s.stream).arrayBuffer());
      assertEquals(streamed, bytes);
      assertEquals(done, true);
      await deleteBlob(kv, a.sha256);
      assertEquals(await getBlob(kv, a.sha256), null);
    } finally {
      kv.close();
    }
  });
});

Deno.test("blobs: chunks without meta (a crash mid-write) are invisible; a missing chunk is detected", async () => {
  await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/kv.sqlite`);
    try {
      const bytes = randomBytes(150_000);
      const sha = await sha256Hex(bytes);
      await kv.set(["blob_chunk", sha, 0], bytes.slice(0, BLOB_CHUNK_SIZE));
      assertEquals(await getBlobMeta(kv, sha), null);
      assertEquals(await getBlob(kv, sha), null);
      assertEquals(await openBlobStream(kv, sha), null);
      const m = await putBlob(kv, bytes); // the retry completes it
      assertEquals(m.existed, false);
      assertEquals(await getBlob(kv, sha), bytes);
      await kv.delete(["blob_chunk", sha, 1]);
      await assertRejects(() => getBlob(kv, sha));
      assertEquals(await getBlobMeta(kv, "not-a-hash"), null);
    } finally {
      kv.close();
    }
  });
});
