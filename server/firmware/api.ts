/** Firmware registry API: upload (raw body or multipart), list, and plain-HTTP download by content hash. */
import type { Extension } from "../context.ts";
import { actorOf } from "../auth/middleware.ts";
import { openBlobStream, SHA256_HEX } from "../kv/blobs.ts";
import {
  firmwareIdBySha,
  FirmwareRejected,
  getFirmware,
  listFirmware,
  MAX_FIRMWARE_BYTES,
  registerFirmware,
} from "./store.ts";

/** Read a request body, refusing (without buffering it all) anything over `max` bytes. */
export async function readCapped(req: Request, max: number): Promise<Uint8Array | null> {
  const len = req.headers.get("content-length");
  if (len !== null && Number(len) > max) {
    await req.body?.cancel();
    return null;
  }
  if (!req.body) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const p of req.body) {
    total += p.length;
    if (total > max) return null;
    parts.push(p);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export interface ParsedUpload {
  filename: string;
  bytes: Uint8Array;
  platform?: string;
  version?: string;
  notes?: string;
}

/** multipart/form-data (file, platform, version, notes) or a raw body with ?filename=&platform=&version= */
export async function parseUpload(req: Request): Promise<ParsedUpload | { error: string; status: 400 | 413 }> {
  const url = new URL(req.url);
  const max = MAX_FIRMWARE_BYTES + 64 * 1024;
  const ctype = req.headers.get("content-type") ?? "";
  const raw = await readCapped(req, max);
  if (!raw) return { error: `upload over ${MAX_FIRMWARE_BYTES} bytes`, status: 413 };
  const str = (v: unknown) => (typeof v === "string" && v.trim() ? v.trim() : undefined);
  if (ctype.startsWith("multipart/form-data")) {
    let form: FormData;
    try {
      form = await new Response(raw as Uint8Array<ArrayBuffer>, { headers: { "content-type": ctype } }).formData();
    } catch {
      return { error: "malformed multipart body", status: 400 };
    }
    const file = form.get("file");
    if (!(file instanceof File)) return { error: "no file field in the form", status: 400 };
    return {
      filename: file.name,
      bytes: new Uint8Array(await file.arrayBuffer()),
      platform: str(form.get("platform")),
      version: str(form.get("version")),
      notes: str(form.get("notes")),
    };
  }
  const filename = url.searchParams.get("filename");
  if (!filename) return { error: "give ?filename= (e.g. OpenBK7231N_1.18.299.rbl) with a raw body", status: 400 };
  return {
    filename,
    bytes: raw,
    platform: str(url.searchParams.get("platform")),
    version: str(url.searchParams.get("version")),
    notes: str(url.searchParams.get("notes")),
  };
}

export function firmwareApi(): Extension {
  return {
    name: "firmware-api",
    routes(app, ctx) {
      app.get("/api/firmware", async (c) => c.json(await listFirmware(ctx.kv)));
      app.get("/api/firmware/:id", async (c) => {
        const fw = await getFirmware(ctx.kv, c.req.param("id"));
        return fw ? c.json(fw) : c.json({ error: "no such firmware" }, 404);
      });
      app.post("/api/firmware", async (c) => {
        const up = await parseUpload(c.req.raw);
        if ("error" in up) return c.json({ error: up.error }, up.status);
        try {
          // the uploader is whoever is signed in (or the agent's token), never a request field
          const { firmware, existed } = await registerFirmware(ctx.kv, {
            ...up,
            by: actorOf(c),
            now: ctx.clock.now(),
          });
          return c.json({ ...firmware, existed }, existed ? 200 : 201);
        } catch (e) {
          if (e instanceof FirmwareRejected) return c.json({ error: e.message, code: e.code }, 422);
          throw e;
        }
      });
      // A registered firmware image by hash, for signed-in users. Only firmware: the blob store also holds
      // customers' flash backups, which this route must never serve. Units get images from the OTA responder.
      app.get("/fw/:sha/:file", async (c) => {
        const sha = c.req.param("sha");
        const fwId = SHA256_HEX.test(sha) ? await firmwareIdBySha(ctx.kv, sha) : null;
        const s = fwId ? await openBlobStream(ctx.kv, sha) : null;
        if (!s) return c.text("no such firmware image", 404);
        return new Response(s.stream, {
          headers: { "content-type": "application/octet-stream", "content-length": String(s.meta.size) },
        });
      });
    },
  };
}
