/** Pages, JSON, CSV and the live SSE stream are gzip-compressed for clients that accept it; SSE events still arrive one by one. */
import { assert, assertEquals } from "@std/assert";
import { SESSION_COOKIE } from "../../server/auth/middleware.ts";
import { commitParts, IngestCache, splitBatch } from "../../server/meters/store.ts";
import { testSession } from "../helpers/auth.ts";
import { startTestServer } from "../helpers/server.ts";

/** A raw HTTP/1.1 GET (fetch would undo the compression before we see it); returns the head and a body reader. */
async function rawGet(url: string, path: string, cookie: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(url).port) });
  await conn.write(new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\nCookie: ${SESSION_COOKIE}=${cookie}\r\n\r\n`,
  ));
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  const more = async () => {
    const n = await conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
    return true;
  };
  let headEnd = -1;
  while (headEnd < 0 && await more()) headEnd = new TextDecoder().decode(buf).indexOf("\r\n\r\n");
  const head = new TextDecoder().decode(buf.subarray(0, headEnd)).toLowerCase();
  return { head, conn, rest: () => buf.subarray(headEnd + 4), more };
}

/** Undo chunked transfer encoding for the complete chunks received so far. */
function dechunk(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  const text = (a: number, b: number) => new TextDecoder().decode(bytes.subarray(a, b));
  for (;;) {
    const eol = text(i, bytes.length).indexOf("\r\n");
    if (eol < 0) break;
    const size = parseInt(text(i, i + eol), 16);
    if (!size || i + eol + 2 + size > bytes.length) break;
    out.push(...bytes.subarray(i + eol + 2, i + eol + 2 + size));
    i += eol + 2 + size + 2;
  }
  return new Uint8Array(out);
}

async function gunzipPartial(bytes: Uint8Array): Promise<string> {
  const ds = new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, BufferSource>;
  const w = ds.writable.getWriter();
  w.write(new Uint8Array(bytes)).catch(() => {});
  const r = ds.readable.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const timeout = new Promise<null>((res) => setTimeout(() => res(null), 500));
  for (;;) {
    const x = await Promise.race([r.read(), timeout]);
    if (!x || x.done) break;
    out += x.value;
  }
  return out;
}

Deno.test({
  name: "HTML, JSON and SSE are gzip-compressed; the first SSE event decodes before the stream ends",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = await startTestServer();
    try {
      const readings = Array.from({ length: 300 }, (_, i) => ({
        deviceId: `m-${i}`,
        ts: Date.now(),
        voltage: 230,
        current: 1,
        power: 230,
        energyWh: 5,
      }));
      await commitParts(
        srv.kv,
        splitBatch({ v: 1, agentId: "bench-z", seq: 0, readings }),
        Date.now(),
        new IngestCache(),
      );
      const { token } = await testSession(srv.kv, "admin");
      for (const path of ["/", "/api/meters"]) {
        const r = await rawGet(srv.url, path, token);
        assert(r.head.includes("content-encoding: gzip"), `${path}: ${r.head}`);
        r.conn.close();
      }
      const live = await rawGet(srv.url, "/api/live?limit=20", token);
      try {
        assert(live.head.includes("content-encoding: gzip"), live.head);
        assert(live.head.includes("content-type: text/event-stream"), live.head);
        let text = "";
        for (let i = 0; i < 20 && !text.includes("event: snapshot"); i++) {
          text = await gunzipPartial(dechunk(live.rest()));
          if (!text.includes("event: snapshot")) await live.more();
        }
        assert(text.includes("event: snapshot"), "the snapshot arrived while the stream is still open");
        assertEquals(JSON.parse(text.split("event: snapshot\ndata: ")[1].split("\n")[0]).rows.length, 20);
      } finally {
        live.conn.close();
      }
    } finally {
      await srv.close();
    }
  },
});
