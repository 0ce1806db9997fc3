/** Live progress of bench flash batches: one bar per port (phase, bytes, rate, ETA), fed by /api/flash/live. */
import { useEffect, useState } from "preact/hooks";

import type { FlashBatch as Batch } from "../shared/flash-progress.ts";

const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
const eta = (
  s: number | null,
) => (s === null ? "" : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${Math.round(s)}s`);

export default function FlashBatches({ initial }: { initial: Batch[] }) {
  const [batches, setBatches] = useState(initial);
  const [live, setLive] = useState(false);
  useEffect(() => {
    const es = new EventSource("/api/flash/live");
    es.addEventListener("batches", (e) => setBatches(JSON.parse((e as MessageEvent).data)));
    es.onopen = () => setLive(true);
    es.onerror = () => setLive(false);
    return () => es.close();
  }, []);
  if (batches.length === 0) {
    return (
      <p class="muted">
        No flash batch yet. On a bench: <code>deno task agent flash batch --port … --server …</code>
      </p>
    );
  }
  return (
    <div>
      <span class={live ? "badge" : "badge warn"}>{live ? "live" : "reconnecting"}</span>
      {batches.map((b) => (
        <section key={b.batchId} data-batch={b.batchId}>
          <h2>
            {b.batchId} <span class="muted">on {b.agentId}, updated {new Date(b.updatedAt).toLocaleTimeString()}</span>
          </h2>
          <table>
            <thead>
              <tr>
                <th>Port</th>
                <th>Phase</th>
                <th>Progress</th>
                <th class="num">Bytes</th>
                <th class="num">Rate</th>
                <th class="num">ETA</th>
                <th>Note</th>
              </tr>
            </thead>
            <tbody>
              {b.rows.map((r) => {
                const pct = r.total ? Math.min(100, (100 * r.done) / r.total) : 0;
                return (
                  <tr key={r.port} data-port={r.port} class={r.phase === "failed" ? "stale" : ""}>
                    <td>
                      <code>{r.port}</code>
                    </td>
                    <td>{r.phase}</td>
                    <td>
                      <progress max={100} value={pct} /> {pct.toFixed(0)}%
                    </td>
                    <td class="num">{kib(r.done)} / {kib(r.total)}</td>
                    <td class="num">{r.rate ? `${(r.rate / 1024).toFixed(1)} KiB/s` : ""}</td>
                    <td class="num">{r.done < r.total ? eta(r.etaS) : ""}</td>
                    <td>{r.note ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
