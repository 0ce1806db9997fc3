/**
 * A small HTTP/1.1 client for OpenBeken's web server, on a raw socket. OpenBeken answers with a status line that
 * ends in a bare LF, no Content-Length, `Connection: close`, and on some error paths a negative status code
 * (src/httpserver/new_http.c; openbeken.md §3): a standard client may refuse such answers, so this one reads
 * until the peer closes and parses leniently. Failures name their real cause (refused, timeout, reset), which
 * the rollout shows per device.
 */

export interface ObkResponse {
  status: number;
  /** header names lower-cased */
  headers: Map<string, string>;
  body: Uint8Array;
}

export class ObkHttpError extends Error {
  override name = "ObkHttpError";
}

const MAX_RESPONSE = 64 * 1024;

export async function obkRequest(o: {
  host: string;
  port: number;
  method: "GET" | "POST";
  path: string;
  body?: Uint8Array;
  /** the web password; sent as Basic `admin:<password>` (the only user OpenBeken accepts) */
  password?: string | null;
  timeoutMs: number;
}): Promise<ObkResponse> {
  const where = `${o.host}:${o.port}`;
  const deadline = AbortSignal.timeout(o.timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: o.host, port: o.port, signal: deadline });
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused) throw new ObkHttpError(`connection refused by ${where}`);
    if (deadline.aborted) throw new ObkHttpError(`no connection to ${where} within ${o.timeoutMs / 1000} s`);
    throw new ObkHttpError(`cannot connect to ${where}: ${(e as Error).message}`);
  }
  const onTimeout = () => conn.close();
  deadline.addEventListener("abort", onTimeout, { once: true });
  try {
    const lines = [
      `${o.method} ${o.path} HTTP/1.1`,
      `Host: ${where}`,
      `Connection: close`,
      ...(o.password ? [`Authorization: Basic ${btoa(`admin:${o.password}`)}`] : []),
      ...(o.body ? [`Content-Type: application/octet-stream`, `Content-Length: ${o.body.length}`] : []),
    ];
    const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
    await writeAll(conn, head);
    if (o.body) await writeAll(conn, o.body);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        if (deadline.aborted) break;
        if (e instanceof Deno.errors.ConnectionReset && total > 0) break; // answered, then reset instead of FIN
        throw e;
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > MAX_RESPONSE) throw new ObkHttpError(`${where} answered more than ${MAX_RESPONSE} bytes`);
    }
    if (deadline.aborted && total === 0) {
      throw new ObkHttpError(`no answer from ${where} to ${o.method} ${o.path} within ${o.timeoutMs / 1000} s`);
    }
    return parseResponse(concat(chunks, total), where);
  } catch (e) {
    if (e instanceof ObkHttpError) throw e;
    if (deadline.aborted) {
      throw new ObkHttpError(`no answer from ${where} to ${o.method} ${o.path} within ${o.timeoutMs / 1000} s`);
    }
    if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe) {
      throw new ObkHttpError(`${where} dropped the connection during ${o.method} ${o.path}`);
    }
    throw new ObkHttpError(`${o.method} ${o.path} on ${where} failed: ${(e as Error).message}`);
  } finally {
    deadline.removeEventListener("abort", onTimeout);
    try {
      conn.close();
    } catch { /* closed by the timeout */ }
  }
}

async function writeAll(conn: Deno.Conn, b: Uint8Array) {
  for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Lenient: LF or CRLF line ends, any (even negative) status code, body = everything after the blank line. */
export function parseResponse(raw: Uint8Array, where: string): ObkResponse {
  const text = new TextDecoder("latin1").decode(raw);
  const m = /^HTTP\/1\.[01] (-?\d+)[^\n]*\n/.exec(text);
  if (!m) throw new ObkHttpError(`${where} did not answer HTTP (${JSON.stringify(text.slice(0, 40))})`);
  const end = /\r?\n\r?\n/.exec(text.slice(m[0].length));
  const headerText = end ? text.slice(m[0].length, m[0].length + end.index) : text.slice(m[0].length);
  const bodyStart = end ? m[0].length + end.index + end[0].length : raw.length;
  const headers = new Map<string, string>();
  for (const line of headerText.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers, body: raw.subarray(bodyStart) };
}
