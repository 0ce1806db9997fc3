/**
 * The OTA download responder: a hand-written HTTP/1.1 server on its own raw
 * socket (OTA_HTTP_PORT), serving the one URL each `ota_http` command names.
 *
 * Why not a Hono route: Deno's HTTP server writes every header name in lower
 * case, and OpenBeken's client matches `Content-Length` with a case-sensitive
 * strcmp; without it the unit stops after its first 255-byte read and reboots
 * into its old image. It also refuses header lines longer than its 255-byte
 * buffer (the app's Content-Security-Policy). So this writes, byte for byte:
 *
 *   HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: N\r\nConnection: close\r\n\r\n
 *
 * then the image, streamed from the blob store (no chunking), and closes.
 *
 * Trust: the path is /ota/<rollout>/<unit>/<token>[/<file>]; the token is the
 * random secret of that unit's latest command (server/ota/store.ts), and the image
 * is served only while that device is `commanded`, once. Anything else gets a
 * short 404/409 and changes nothing. Only registered firmware is ever served,
 * never another blob (customers' flash backups live in the same blob store).
 *
 * State follows the bytes: commanded → downloading when the request is
 * accepted; → rebooting only when every byte was written AND the unit closed
 * its end cleanly after that, having read them all (a unit that hangs up
 * early, or closes with bytes unread and so resets the connection, was cut off); a cut-off download ends `failed` with how far it got:
 * OpenBeken reboots after every `ota_http` and a partial image never boots.
 */
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { openBlobStream } from "../kv/blobs.ts";
import { getDevice, getOtaUrlToken, getRollout, transitionDeviceFresh } from "./store.ts";
import { timingSafeEqual } from "../auth/crypto.ts";
import { firmwareIdBySha } from "../firmware/store.ts";

const HEAD_LIMIT = 2048;
const HEAD_TIMEOUT_MS = 10_000;
/** how long a unit may take to close after the last byte (OpenBeken closes as soon as Content-Length is read) */
const CLOSE_WAIT_MS = 30_000;
const MAX_CONNECTIONS = 512;

export interface OtaResponder {
  port: number;
  close(): Promise<void>;
}

export interface OtaResponderDeps {
  kv: Deno.Kv;
  clock: Clock;
  log: Logger;
  hostname: string;
  port: number;
}

/** The path a unit's `ota_http` URL carries (kept under OpenBeken's 127-byte path buffer). */
export function otaPath(rolloutId: string, unitId: string, token: string, filename: string): string {
  const base = `/ota/${encodeURIComponent(rolloutId)}/${encodeURIComponent(unitId)}/${token}`;
  const withFile = `${base}/${encodeURIComponent(filename)}`;
  return withFile.length <= 127 ? withFile : base;
}

const enc = new TextEncoder();

/** A short answer: status line, Content-Type, Content-Length, Connection: close, nothing else. */
function plain(status: string, text: string): Uint8Array {
  const body = enc.encode(text + "\n");
  return concat(
    enc.encode(
      `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ),
    body,
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Read up to the blank line ending the request head; null when the peer closed, timed out or sent too much. */
async function readHead(conn: Deno.Conn, signal: AbortSignal): Promise<string | null> {
  const buf = new Uint8Array(HEAD_LIMIT);
  let len = 0;
  while (len < HEAD_LIMIT && !signal.aborted) {
    const n = await conn.read(buf.subarray(len)).catch(() => null);
    if (n === null) return null;
    len += n;
    const text = new TextDecoder("latin1").decode(buf.subarray(0, len));
    if (text.includes("\r\n\r\n") || text.includes("\n\n")) return text;
  }
  return null;
}

export function startOtaResponder(deps: OtaResponderDeps): OtaResponder {
  const listener = Deno.listen({ hostname: deps.hostname, port: deps.port, transport: "tcp" });
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const stop = new AbortController();

  const handle = async (conn: Deno.Conn) => {
    const headTimer = setTimeout(() => {
      try {
        conn.close();
      } catch { /* already closed */ }
    }, HEAD_TIMEOUT_MS);
    const head = await readHead(conn, stop.signal).finally(() => clearTimeout(headTimer));
    if (!head) return;
    const [method, target] = head.split(/\r?\n/, 1)[0].split(" ");
    const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
    if (method !== "GET") return await writeAll(conn, plain("405 Method Not Allowed", "GET only"));
    const m = /^\/ota\/([^/]+)\/([^/]+)\/([A-Za-z0-9_-]{16,64})(?:\/[^/?#]*)?$/.exec(target ?? "");
    if (!m) return await writeAll(conn, plain("404 Not Found", "not found"));
    const [rid, uid] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
    const tok = await getOtaUrlToken(deps.kv, rid, uid);
    if (!tok || !timingSafeEqual(tok.token, m[3])) return await writeAll(conn, plain("404 Not Found", "not found"));
    const [r, d] = [(await getRollout(deps.kv, rid)).value, (await getDevice(deps.kv, rid, uid)).value];
    if (!r || !d) return await writeAll(conn, plain("404 Not Found", "not found"));
    if (d.state !== "commanded" || d.attempts !== tok.attempt) {
      return await writeAll(conn, plain("409 Conflict", `this unit is ${d.state}: not commanded`));
    }
    // only what the registry holds as firmware, never any other blob
    const fwId = await firmwareIdBySha(deps.kv, r.firmwareSha);
    const blob = fwId ? await openBlobStream(deps.kv, r.firmwareSha) : null;
    if (!blob) return await writeAll(conn, plain("410 Gone", "firmware missing"));
    const size = blob.meta.size;
    const moved = await transitionDeviceFresh(deps.kv, rid, uid, ["commanded"], "downloading", {
      now: deps.clock.now(),
      note: `GET from ${peer}`,
    });
    if (!moved) {
      await blob.stream.cancel();
      return await writeAll(conn, plain("409 Conflict", "not commanded"));
    }

    // watch the unit's side while we write: it sends nothing after its request, so EOF or an error is a hang-up
    // bytes handed to (or being handed to) the socket: the unit cannot have seen more than this
    let offered = 0;
    let sent = 0;
    let peerEnd: { at: number; sentThen: number; how: "eof" | "reset" } | null = null;
    const watcher = (async () => {
      const sink = new Uint8Array(512);
      for (;;) {
        try {
          const n = await conn.read(sink);
          if (n === null) return peerEnd ??= { at: Date.now(), sentThen: offered, how: "eof" };
        } catch {
          return peerEnd ??= { at: Date.now(), sentThen: offered, how: "reset" };
        }
      }
    })();

    let writeError: string | null = null;
    try {
      await writeAll(
        conn,
        enc.encode(
          `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
        ),
      );
      for await (const chunk of blob.stream) {
        offered += chunk.length;
        await writeAll(conn, chunk);
        sent += chunk.length;
      }
    } catch (e) {
      writeError = e instanceof Error ? e.name : String(e);
      await blob.stream.cancel().catch(() => {});
    }
    let probe: "clean" | "reset" | null = null;
    if (!writeError) {
      // OpenBeken closes as soon as it has Content-Length bytes. Deno reports the unit's FIN and its RST
      // (a close with bytes still unread) alike as EOF, so after the close one more byte is written: on a
      // reset connection that write fails (EPIPE), on a cleanly closed one it is accepted (and ignored).
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([watcher, new Promise((res) => t = setTimeout(res, CLOSE_WAIT_MS))]);
      clearTimeout(t);
      if (peerEnd) {
        await new Promise((res) => setTimeout(res, 20)); // network time, not the (possibly manual) clock
        probe = await conn.write(new Uint8Array(1)).then(() => "clean" as const, () => "reset" as const);
      }
    }
    const end = peerEnd as { sentThen: number; how: "eof" | "reset" } | null;
    const delivered = !writeError && sent === size && end !== null && end.how === "eof" && end.sentThen === size &&
      probe === "clean";
    const now = deps.clock.now();
    if (delivered) {
      await transitionDeviceFresh(deps.kv, rid, uid, ["downloading"], "rebooting", {
        now,
        note: `${size} bytes delivered`,
      });
      deps.log.info("OTA image delivered", { rollout: rid, unit: uid, bytes: size });
    } else if (end === null && !writeError) {
      // every byte written, but the unit never closed: leave it downloading, the engine's verify timeout decides
      deps.log.warn("OTA download not confirmed: the unit did not close", { rollout: rid, unit: uid, bytes: size });
    } else {
      const got = Math.min(end?.sentThen ?? sent, sent);
      const why = writeError
        ? `write failed: ${writeError}`
        : end!.how === "reset"
        ? "connection reset"
        : "unit hung up";
      await transitionDeviceFresh(deps.kv, rid, uid, ["downloading"], "failed", {
        now,
        audit: true,
        error: `download cut off after at most ${got} of ${size} bytes (${why}); OpenBeken reboots into its old image`,
      });
      deps.log.warn("OTA download cut off", { rollout: rid, unit: uid, sent: got, size, why });
    }
  };

  const loop = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // listener closed
      }
      if (conns.size >= MAX_CONNECTIONS) {
        writeAll(conn, plain("503 Service Unavailable", "busy")).catch(() => {}).finally(() => conn.close());
        continue;
      }
      conns.add(conn);
      const p: Promise<void> = handle(conn)
        .catch((e) => deps.log.warn("OTA responder: connection failed", { err: e }))
        .finally(() => {
          conns.delete(conn);
          handlers.delete(p);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
      handlers.add(p);
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      stop.abort();
      listener.close();
      await loop;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await Promise.allSettled([...handlers]);
    },
  };
}
