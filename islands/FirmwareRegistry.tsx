/**
 * The firmware page's upload form and list. Without JavaScript the form posts multipart to /firmware (its `_csrf`
 * field comes before the file, where the server's CSRF check reads it). With JavaScript it shows the file's size
 * when picked and the upload's progress (XHR upload events), posts to /api/firmware, and refreshes the list.
 */
import { useMemo, useState } from "preact/hooks";
import { absolute, relative } from "../shared/time-text.ts";
import { zoneByName } from "../shared/zone.ts";

// Structural copy of the server's Firmware: islands import only shared/ and preact.
export interface FirmwareRow {
  id: string;
  filename: string;
  kind: string;
  platform: string;
  version: string;
  sha256: string;
  size: number;
  otaAllowed: boolean;
  uploadedAt: number;
  uploadedBy: string;
  rbl: { name: string; version: string; compression: string; encryption: string; rawSize: number } | null;
}

export interface FirmwareRegistryProps {
  csrf: string;
  firmware: FirmwareRow[];
  message?: string;
  ok?: boolean;
  /** the server's clock at render (relative times match between server and browser) */
  now?: number;
  /** the installation's zone, for absolute times on hover */
  zoneName?: string;
}

export const sizeText = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB (${n} bytes)` : `${(n / 1e3).toFixed(1)} kB (${n} bytes)`;

export default function FirmwareRegistry(props: FirmwareRegistryProps) {
  const [firmware, setFirmware] = useState(props.firmware);
  const [message, setMessage] = useState<{ text: string; ok: boolean } | null>(
    props.message ? { text: props.message, ok: !!props.ok } : null,
  );
  const [size, setSize] = useState<number | null>(null);
  const [sent, setSent] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(props.now ?? Date.now());
  const zone = useMemo(() => {
    try {
      return props.zoneName ? zoneByName(props.zoneName) : undefined;
    } catch {
      return undefined;
    }
  }, [props.zoneName]);

  const onPick = (e: Event) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    setSize(f ? f.size : null);
    setSent(null);
  };

  const onSubmit = (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const body = new FormData(form);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/firmware");
    xhr.setRequestHeader("x-csrf-token", props.csrf);
    xhr.upload.onprogress = (p) => setSent(p.loaded);
    xhr.onerror = () => {
      setBusy(false);
      setMessage({ text: "upload failed: the connection to the server broke off", ok: false });
    };
    xhr.onload = async () => {
      setBusy(false);
      let r: { error?: string; filename?: string; kind?: string; platform?: string; version?: string } = {};
      try {
        r = JSON.parse(xhr.responseText);
      } catch { /* not JSON: say the status below */ }
      if (xhr.status === 200 || xhr.status === 201) {
        form.reset();
        // the list first, then the result line: whoever reads the message finds the new image listed
        try {
          const list = await fetch("/api/firmware");
          if (list.ok) setFirmware(await list.json());
        } catch { /* the upload is done; the list refreshes with the next page load */ }
        setNow(Date.now());
        setMessage({
          text: xhr.status === 200
            ? `${r.filename} was already registered`
            : `registered ${r.filename} (${r.kind}, ${r.platform} ${r.version})`,
          ok: true,
        });
      } else {
        setMessage({ text: `refused: ${r.error ?? `the server answered ${xhr.status}`}`, ok: false });
      }
    };
    setBusy(true);
    setSent(0);
    setMessage(null);
    xhr.send(body);
  };

  const pct = size && sent !== null ? Math.min(100, Math.round((100 * sent) / size)) : 0;
  return (
    <div class="stack">
      {message && (
        <p
          class={message.ok ? "notice ok" : "notice error"}
          role={message.ok ? "status" : "alert"}
          data-testid="message"
        >
          {message.text}
        </p>
      )}
      <section class="card" aria-labelledby="upload-h">
        <h2 class="card-title" id="upload-h">Upload an image</h2>
        <form method="post" action="/firmware" enctype="multipart/form-data" onSubmit={onSubmit}>
          {/* first in the form, so first in the multipart body: the CSRF check reads only the head of an upload */}
          <input type="hidden" name="_csrf" value={props.csrf} />
          <div class="form-row">
            <label for="fw-file">File</label>
            <input
              id="fw-file"
              type="file"
              name="file"
              accept=".rbl,.bin"
              required
              onChange={onPick}
              aria-describedby="fw-file-help"
            />
            <span class="help" id="fw-file-help">
              {size !== null ? <span data-testid="upload-size">{sizeText(size)}</span> : "an OpenBeken .rbl package"}
            </span>
          </div>
          <div class="form-row">
            <label for="fw-platform">Platform</label>
            <input
              id="fw-platform"
              name="platform"
              placeholder="from the name"
              size={9}
              aria-describedby="fw-pv-help"
            />
          </div>
          <div class="form-row">
            <label for="fw-version">Version</label>
            <input id="fw-version" name="version" placeholder="from the name" size={9} aria-describedby="fw-pv-help" />
          </div>
          <div class="form-row">
            <label for="fw-notes">Notes</label>
            <input id="fw-notes" name="notes" size={20} />
          </div>
          <button type="submit" disabled={busy}>Upload</button>
          <span class="help small muted" id="fw-pv-help">
            Platform and version are read from the file name (<code>OpenBK7231N_1.18.300.rbl</code>) when left blank.
          </span>
          {size !== null && sent !== null && (
            <div class="form-row" style={{ flexBasis: "100%" }}>
              <label for="fw-progress">Upload {busy ? "in progress" : "done"}: {pct} %</label>
              <progress id="fw-progress" data-testid="upload-progress" max={size} value={Math.min(sent, size)}>
                {pct} %
              </progress>
            </div>
          )}
        </form>
      </section>
      <section class="card" aria-labelledby="registry-h">
        <h2 class="card-title" id="registry-h">Registered images</h2>
        {firmware.length === 0
          ? (
            <div class="empty" data-testid="empty">
              <p>
                <strong>No image yet</strong>
              </p>
              <p>Upload an OpenBeken RBL package above; then roll it out from its row.</p>
            </div>
          )
          : (
            <div class="table-wrap" role="region" aria-label="Registered firmware images" tabIndex={0}>
              <table data-testid="firmware">
                <thead>
                  <tr>
                    <th>File</th>
                    <th>Kind</th>
                    <th>Platform</th>
                    <th>Version</th>
                    <th>RBL header</th>
                    <th class="num">Size</th>
                    <th>sha256</th>
                    <th>Uploaded</th>
                    <th>
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {firmware.map((f) => (
                    <tr key={f.id} id={`fw-${f.id}`}>
                      <td class="mono">{f.filename}</td>
                      <td>
                        {f.kind}{" "}
                        {f.otaAllowed ? <span class="badge ok">OTA</span> : <span class="badge warn">not for OTA</span>}
                      </td>
                      <td>{f.platform}</td>
                      <td>{f.version}</td>
                      <td class="small" style={{ minWidth: "14rem" }}>
                        {f.rbl
                          ? `${f.rbl.name} ${f.rbl.version}, ${f.rbl.compression}/${f.rbl.encryption}, raw ${f.rbl.rawSize} B`
                          : "–"}
                      </td>
                      <td class="num" title={`${f.size} bytes`}>
                        {(f.size / 1000).toLocaleString("en", { maximumFractionDigits: 1 })}
                        <span class="unit">kB</span>
                      </td>
                      <td>
                        <code title={f.sha256}>{f.sha256.slice(0, 12)}…</code>
                      </td>
                      <td class="nowrap">
                        <time dateTime={new Date(f.uploadedAt).toISOString()} title={absolute(f.uploadedAt, zone)}>
                          {relative(f.uploadedAt, now)}
                        </time>{" "}
                        <span class="muted">by {f.uploadedBy}</span>
                      </td>
                      <td class="nowrap">
                        <a href={`/fw/${f.sha256}/${encodeURIComponent(f.filename)}`}>download</a>
                        {f.otaAllowed && (
                          <>
                            {" · "}
                            <a href={`/rollouts?firmware=${f.id}`}>roll out</a>
                          </>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
      </section>
    </div>
  );
}
