/**
 * Read one small text field from the head of a multipart/form-data body without buffering the rest: the CSRF
 * check needs the form's `_csrf` field, and an upload form's body is megabytes of firmware. Browsers send fields
 * in document order, so a form that puts its hidden `_csrf` input before the file input carries it in the first
 * part. Only the first `maxPrefix` bytes are read (through a tee, so the handler still gets the whole body); a
 * field that is not there, or whose part is not complete within the prefix, counts as missing.
 */

/** The boundary parameter of a multipart/form-data content type (RFC 2046 §5.1.1: 1–70 chars, maybe quoted). */
export function multipartBoundary(contentType: string): string | null {
  if (!/^multipart\/form-data\s*;/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : null;
}

const latin1 = new TextDecoder("latin1");

/** The value of text field `name` among the parts that lie complete in `head` (a prefix of the body), or null. */
export function fieldInHead(head: Uint8Array, boundary: string, name: string): string | null {
  // latin1 maps bytes 1:1 to code units, so offsets in the string are offsets in the bytes
  const text = latin1.decode(head);
  const delim = `--${boundary}`;
  let at = text.startsWith(delim) ? 0 : text.indexOf(`\r\n${delim}`);
  if (at === -1) return null;
  if (at > 0) at += 2;
  for (;;) {
    const lineEnd = at + delim.length;
    if (text.startsWith("--", lineEnd)) return null; // closing delimiter
    const headersStart = text.indexOf("\r\n", lineEnd);
    if (headersStart === -1) return null;
    const headersEnd = text.indexOf("\r\n\r\n", headersStart);
    if (headersEnd === -1) return null;
    const next = text.indexOf(`\r\n${delim}`, headersEnd + 4);
    if (next === -1) return null; // this part runs past the prefix
    const headers = text.slice(headersStart + 2, headersEnd);
    const disp = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? "";
    const partName = /;\s*name="([^"]*)"/i.exec(disp)?.[1];
    if (partName === name && !/;\s*filename=/i.test(disp)) {
      return new TextDecoder().decode(head.subarray(headersEnd + 4, next));
    }
    at = next + 2;
  }
}

/**
 * Tee `req`'s body, read up to `maxPrefix` bytes of one branch to find field `name`, and return the field (or
 * null) with a request that carries the other, untouched branch.
 */
export async function peekMultipartField(
  req: Request,
  boundary: string,
  name: string,
  maxPrefix = 16 * 1024,
): Promise<{ value: string | null; request: Request }> {
  if (!req.body) return { value: null, request: req };
  const [peek, keep] = req.body.tee();
  const request = new Request(req, { body: keep, duplex: "half" } as RequestInit);
  const reader = peek.getReader();
  const head = new Uint8Array(maxPrefix);
  let have = 0;
  let value: string | null = null;
  try {
    while (have < maxPrefix) {
      const { done, value: chunk } = await reader.read();
      if (done) break;
      const n = Math.min(chunk.length, maxPrefix - have);
      head.set(chunk.subarray(0, n), have);
      have += n;
      value = fieldInHead(head.subarray(0, have), boundary, name);
      if (value !== null) break;
    }
  } catch {
    // a body that fails to read (over the size cap, client gone) carries no token; the handler sees the error too
  } finally {
    // the rest of this branch is not wanted: cancelling it lets the other branch flow without buffering
    reader.cancel().catch(() => {});
  }
  return { value, request };
}
