/**
 * CSRF on multipart uploads: a cookie-authenticated form post carries its token as the `_csrf` field before the
 * file (what the /firmware form sends). The check reads only the head of the body, so a token after the file, a
 * wrong one or none is refused, and a refused upload stores nothing.
 */
import { assertEquals } from "@std/assert";
import { buildFakeRbl, fakeRblName } from "../../edge-agent/sim/obk-image.ts";
import { listFirmware } from "../../server/firmware/store.ts";
import { fieldInHead, multipartBoundary } from "../../server/auth/multipart_field.ts";
import { testSession } from "../helpers/auth.ts";
import { startOtaServer } from "../ota/fleet.ts";

Deno.test("multipart field reader: finds a text field in the head, not a file's, not one cut off", () => {
  const b = "----x1";
  const enc = (s: string) => new TextEncoder().encode(s);
  const body = `--${b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n` +
    `--${b}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\ntök en\r\n--${b}--\r\n`;
  assertEquals(fieldInHead(enc(body), b, "_csrf"), "tök en");
  assertEquals(fieldInHead(enc(body).subarray(0, body.indexOf("tök") + 2), b, "_csrf"), null);
  const asFile = `--${b}\r\nContent-Disposition: form-data; name="_csrf"; filename="t"\r\n\r\nx\r\n--${b}--\r\n`;
  assertEquals(fieldInHead(enc(asFile), b, "_csrf"), null);
  assertEquals(multipartBoundary('multipart/form-data; boundary="a b"'), "a b");
  assertEquals(multipartBoundary("multipart/form-data; charset=utf-8; boundary=zz"), "zz");
  assertEquals(multipartBoundary("application/json"), null);
});

/** A token that differs from `token` in its first character, whatever that character is. */
function wrongToken(token: string): string {
  return (token[0] === "x" ? "y" : "x") + token.slice(1);
}

Deno.test("multipart CSRF: the _csrf field before the file passes; after the file, wrong or missing is refused", async () => {
  const srv = await startOtaServer();
  try {
    const s = await testSession(srv.kv, "admin", "alice");
    const image = buildFakeRbl({ chip: "BK7231N", version: "1.18.300", size: 600_000 });
    const file = new File([image as Uint8Array<ArrayBuffer>], fakeRblName("BK7231N", "1.18.300"));
    const post = async (fields: [string, string | File][]) => {
      const form = new FormData();
      for (const [k, v] of fields) form.append(k, v);
      const res = await fetch(`${srv.url}/firmware`, { method: "POST", headers: { cookie: s.cookie }, body: form });
      const text = await res.text();
      return { status: res.status, text };
    };
    for (
      const fields of [
        [["file", file], ["_csrf", s.csrf]],
        [["_csrf", wrongToken(s.csrf)], ["file", file]],
        [["file", file]],
      ] as [string, string | File][][]
    ) {
      const r = await post(fields);
      assertEquals([r.status, r.text], [403, JSON.stringify({ error: "missing or wrong CSRF token" })]);
    }
    assertEquals(await listFirmware(srv.kv), []);
    const ok = await post([["_csrf", s.csrf], ["notes", "from a form"], ["file", file]]);
    assertEquals(ok.status, 200, ok.text);
    const fw = await listFirmware(srv.kv);
    assertEquals(fw.map((f) => [f.size, f.notes, f.uploadedBy]), [[image.length, "from a form", "alice"]]);
  } finally {
    await srv.close();
  }
});
