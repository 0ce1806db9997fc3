/**
 * The firmware page's upload form and list. Without JavaScript the form posts multipart to /firmware (its `_csrf`
 * field comes before the file, where the server's CSRF check reads it). With JavaScript it shows the file's size
 * when picked and the upload's progress (XHR upload events), posts to /api/firmware, and refreshes the list.
 */
import { useState } from "preact/hooks";

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
        setMessage({
          text: xhr.status === 200
            ? `${r.filename} was already registered`
            : `registered ${r.filename} (${r.kind}, ${r.platform} ${r.version})`,
          ok: true,
        });
        form.reset();
        const list = await fetch("/api/firmware");
        if (list.ok) setFirmware(await list.json());
      } else {
        setMessage({ text: `refused: ${r.error ?? `the server answered ${xhr.status}`}`, ok: false });
      }
    };
    setBusy(true);
    setSent(0);
    setMessage(null);
    xhr.send(body);
  };

  return (
    <div>
      {message && <p class={message.ok ? "badge" : "badge warn"} data-testid="message">{message.text}</p>}
      <form method="post" action="/firmware" enctype="multipart/form-data" class="filters" onSubmit={onSubmit}>
        {/* first in the form, so first in the multipart body: the CSRF check reads only the head of an upload */}
        <input type="hidden" name="_csrf" value={props.csrf} />
        <label>
          file <input type="file" name="file" accept=".rbl,.bin" required onChange={onPick} />
        </label>
        <label>
          platform <input name="platform" placeholder="from the name" size={9} />
        </label>
        <label>
          version <input name="version" placeholder="from the name" size={9} />
        </label>
        <label>
          notes <input name="notes" size={20} />
        </label>
        <button type="submit" disabled={busy}>Upload</button>
        {size !== null && <span class="muted" data-testid="upload-size">{sizeText(size)}</span>}
        {size !== null && sent !== null && (
          <progress data-testid="upload-progress" max={size} value={Math.min(sent, size)}>
            {Math.round((100 * sent) / size)} %
          </progress>
        )}
      </form>
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
            <th></th>
          </tr>
        </thead>
        <tbody>
          {firmware.map((f) => (
            <tr key={f.id}>
              <td>{f.filename}</td>
              <td>{f.kind}{f.otaAllowed ? "" : <span class="badge warn">not for OTA</span>}</td>
              <td>{f.platform}</td>
              <td>{f.version}</td>
              <td>
                {f.rbl
                  ? `${f.rbl.name} ${f.rbl.version}, ${f.rbl.compression}/${f.rbl.encryption}, raw ${f.rbl.rawSize} B`
                  : "–"}
              </td>
              <td class="num">{f.size}</td>
              <td>
                <code title={f.sha256}>{f.sha256.slice(0, 12)}…</code>
              </td>
              <td>{new Date(f.uploadedAt).toISOString().slice(0, 16).replace("T", " ")} by {f.uploadedBy}</td>
              <td>
                <a href={`/fw/${f.sha256}/${encodeURIComponent(f.filename)}`}>download</a>
                {f.otaAllowed && (
                  <>
                    · <a href={`/rollouts?firmware=${f.id}`}>roll out</a>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
