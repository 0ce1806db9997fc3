/**
 * OpenBeken's `ota_http` download client, modelled over a raw TCP socket from
 * OpenBK7231T_App 1.18.299 (src/httpclient/http_client.c, utils_net.c and
 * src/hal/bk7231/hal_ota_bk7231.c). It is strict where the firmware is:
 * - the request is what httpclient_send_header builds for otarequest(): the
 *   path (≤ 127 bytes: the path buffer is HTTPCLIENT_MAX_HOST_LEN = 128),
 *   `Host:` with the port as written in the URL, and — because otarequest
 *   sets post_buf = "" (not NULL) — `Content-Length: 0` and
 *   `Content-Type: text/csv`, even on a GET;
 * - every read is at most HTTPCLIENT_CHUNK_SIZE − 1 = 255 bytes
 *   (httpclient_recv_response `lentoget`);
 * - header lines must end within that 255-byte buffer
 *   (httpclient_response_parse: "header len > chunksize");
 * - header names are matched with case-sensitive strcmp on a
 *   `%31[^:]: %31[^\r\n]` scan: only `Content-Length` and
 *   `Transfer-Encoding` count, `content-length` is ignored;
 * - no chunked decoding: a chunked response sets retrieve_len = 0, so the
 *   client stops after its first read, as it does without a matched
 *   Content-Length (retrieve_len starts at 0: httpclient_retrieve_content
 *   sets is_more = false once retrieve_len ≤ 0);
 * - a status other than 200 ends the download (MQTT_SUB_INFO_NOT_FOUND_ERROR);
 * - a peer that closes early is an error (HAL_TCP_Read returns −1);
 * - whatever arrived is written to the OTA partition (add_otadata), bytes
 *   beyond Content-Length included. The caller reboots in every case
 *   (myhttpclientcallback state 2 → bk_reboot).
 *
 * This file must never import the server's code: it is the device side.
 */

export const OBK_READ_SIZE = 255;
const MAX_PATH = 128; // HTTPCLIENT_MAX_HOST_LEN, used for the path buffer too
const MAX_HOST = 128;

export interface ObkDownload {
  /** "done" = the client ended normally (is_more false); anything else is the error it ended with */
  outcome: "done" | "bad_url" | "refused" | "send_failed" | "bad_response" | "not_200" | "closed_early" | "timeout";
  status: number | null;
  /** the value of a header that strcmp matched `Content-Length`, else null */
  contentLength: number | null;
  chunked: boolean;
  /** header names as received, for tests that want to show why */
  headerNames: string[];
  /** every byte handed to add_otadata, in order */
  written: Uint8Array;
  /** number of reads after the headers (each ≤ 255 bytes) */
  reads: number;
  /** request text exactly as sent */
  request: string;
  detail: string;
}

/** Split a URL the way httpclient_parse_host / httpclient_parse_url do (not with URL()). */
export function obkParseUrl(url: string): { host: string; hostname: string; port: number; path: string } | string {
  const sep = url.indexOf("://");
  if (sep < 0) return "Could not find host";
  if (sep + 1 > 8) return "Scheme str is too small";
  const rest = url.slice(sep + 3);
  const slash = rest.indexOf("/");
  if (slash < 0) return "invalid path"; // "note: url must have a '/' after host"
  const host = rest.slice(0, slash);
  if (host.length + 1 > MAX_HOST) return "Host str is too long";
  const hash = rest.indexOf("#");
  const path = hash >= 0 ? rest.slice(slash, hash) : rest.slice(slash);
  if (path.length + 1 > MAX_PATH) return `Path str is too small (${MAX_PATH} >= ${path.length + 1})`;
  // request->port = 80; "HTTP://" (upper case only) also says 80; `:<digits>` overrides (sscanf %d)
  let port = 80;
  let hostname = host;
  const colon = host.indexOf(":");
  if (colon >= 0) {
    hostname = host.slice(0, colon);
    const m = /^[+-]?\d+/.exec(host.slice(colon + 1));
    if (m) port = Number(m[0]);
  }
  return { host, hostname, port, path };
}

/** The header line scan `sscanf(data, "%31[^:]: %31[^\r\n]", key, value)`: [n, key, value]. */
function scanHeader(line: string): [number, string, string] {
  const km = /^[^:]{1,31}/.exec(line);
  if (!km) return [0, "", ""];
  const key = km[0];
  let i = key.length;
  if (line[i] !== ":") return [1, key, ""];
  i++;
  while (i < line.length && /\s/.test(line[i])) i++; // a space in a scanf format skips any white space
  const vm = /^[^\r\n]{1,31}/.exec(line.slice(i));
  return vm ? [2, key, vm[0]] : [1, key, ""];
}

const latin1 = new TextDecoder("latin1");

export async function obkHttpGet(
  url: string,
  opts: { timeoutMs?: number; connect?: (host: string, port: number) => Promise<Deno.Conn> } = {},
): Promise<ObkDownload> {
  const r: ObkDownload = {
    outcome: "done",
    status: null,
    contentLength: null,
    chunked: false,
    headerNames: [],
    written: new Uint8Array(0),
    reads: 0,
    request: "",
    detail: "",
  };
  const parts: Uint8Array[] = [];
  const fail = (outcome: ObkDownload["outcome"], detail: string) => {
    r.outcome = outcome;
    r.detail = detail;
    return r;
  };
  const finish = () => {
    let n = 0;
    for (const p of parts) n += p.length;
    r.written = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
      r.written.set(p, off);
      off += p.length;
    }
    return r;
  };
  const u = obkParseUrl(url);
  if (typeof u === "string") return fail("bad_url", u);
  let conn: Deno.Conn;
  try {
    conn = await (opts.connect ?? ((hostname, port) => Deno.connect({ hostname, port })))(u.hostname, u.port);
  } catch (e) {
    return fail("refused", String(e));
  }
  // utils_net.c HAL_TCP_Read selects with no timeout at all; a simulator must end, so the whole download has one
  // (one timer that closes the socket, not one per 255-byte read)
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, opts.timeoutMs ?? 60_000);
  const buf = new Uint8Array(OBK_READ_SIZE);
  /** one doRead of up to `max` bytes: bytes, or null when the peer closed (−1) or failed */
  const read = async (max: number): Promise<Uint8Array | null | "timeout"> => {
    try {
      const n = await conn.read(buf.subarray(0, max));
      if (timedOut) return "timeout";
      return n === null ? null : buf.slice(0, n);
    } catch {
      return timedOut ? "timeout" : null;
    }
  };
  try {
    r.request = `GET ${u.path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Length: 0\r\nContent-Type: text/csv\r\n\r\n`;
    try {
      const bytes = new TextEncoder().encode(r.request);
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    } catch (e) {
      return fail("send_failed", String(e));
    }
    // first read: status line and headers (httpclient_recv_response, lentoget = 255)
    const first = await read(OBK_READ_SIZE);
    if (first === "timeout") return fail("timeout", "no response");
    if (!first || first.length === 0) return fail("closed_early", "connection closed before a response");
    let data = first;
    const text = () => latin1.decode(data);
    const crlf = (s: string) => {
      const z = s.indexOf("\0"); // strstr stops at a NUL
      const i = s.indexOf("\r\n");
      return i >= 0 && (z < 0 || i < z) ? i : -1;
    };
    let s = text();
    const statusEnd = crlf(s);
    if (statusEnd < 0) return fail("bad_response", "no CRLF in the first read");
    const sm = /^HTTP\/\d+\.\d+ ([+-]?\d+)/.exec(s.slice(0, statusEnd));
    if (!sm) return fail("bad_response", `not a correct HTTP answer: ${JSON.stringify(s.slice(0, statusEnd))}`);
    r.status = Number(sm[1]);
    data = data.slice(statusEnd + 2);
    let retrieveLen = 0; // otarequest() memsets the request: retrieve_len = 0 until Content-Length says otherwise
    for (;;) {
      s = text();
      const end = crlf(s);
      if (end < 0) {
        if (data.length < OBK_READ_SIZE) {
          const more = await read(OBK_READ_SIZE - data.length);
          if (more === "timeout") return fail("timeout", "headers never ended");
          if (more === null) return fail("closed_early", "closed inside the headers");
          const joined = new Uint8Array(data.length + more.length);
          joined.set(data);
          joined.set(more, data.length);
          data = joined;
          continue;
        }
        return fail("bad_response", "header len > chunksize (a header line longer than the 255-byte buffer)");
      }
      if (end === 0) {
        data = data.slice(2);
        break;
      }
      const [n, key, value] = scanHeader(s.slice(0, end));
      if (n === 0) return fail("bad_response", "Could not parse header");
      r.headerNames.push(key);
      if (n === 2) {
        if (key === "Content-Length") {
          const v = /^[+-]?\d+/.exec(value);
          if (v) {
            r.contentLength = Number(v[0]);
            retrieveLen = r.contentLength;
          }
        } else if (key === "Transfer-Encoding" && (value === "Chunked" || value === "chunked")) {
          r.chunked = true;
          r.contentLength = null;
          retrieveLen = 0;
        }
      }
      data = data.slice(end + 2);
    }
    if (r.status !== 200) return fail("not_200", `status ${r.status}`);
    // httpclient_retrieve_content: the rest of the first read is body
    parts.push(data);
    retrieveLen -= data.length;
    while (retrieveLen > 0) {
      const more = await read(OBK_READ_SIZE);
      if (more === "timeout") return fail("timeout", `stalled with ${retrieveLen} bytes to go`);
      if (more === null) return fail("closed_early", `closed with ${retrieveLen} bytes to go`);
      r.reads++;
      parts.push(more);
      retrieveLen -= more.length;
    }
    return r;
  } finally {
    clearTimeout(deadline);
    finish();
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}
