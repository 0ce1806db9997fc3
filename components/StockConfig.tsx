/**
 * "From stock backup": what a unit's stock Tuya backup said (module, GPIO table, TuyaMCU link,
 * versions, datapoint schema) and the OpenBeken template proposed from it, for the operator to
 * review before it is applied. Server-rendered; its own component so the unit and inventory
 * pages only place it. Never shows a Wi-Fi SSID or password (the decoder reports "present").
 */
import type { StockConfig } from "../server/stock-config/store.ts";

/** `showSha`: only for those who may download backups (a backup's sha256 is its download name). */
export function StockConfigSection({ config, showSha }: { config: StockConfig | null; showSha: boolean }) {
  return (
    <section data-testid="stock-config">
      <h2>From stock backup</h2>
      <StockConfigBody config={config} showSha={showSha} />
    </section>
  );
}

function StockConfigBody({ config, showSha }: { config: StockConfig | null; showSha: boolean }) {
  if (!config) return <p>No backup of this unit has been inspected yet.</p>;
  if (config.status === "none") {
    return <p>Backup {showSha ? config.sha256.slice(0, 12) : "(stored)"}: {config.reason}.</p>;
  }
  if (config.status === "error") {
    return (
      <p class="badge warn">
        Backup {showSha ? config.sha256.slice(0, 12) : "(stored)"} could not be read: {config.message} ({config.code})
      </p>
    );
  }
  const r = config.inspection;
  const p = config.proposal;
  const v = r.versions;
  return (
    <>
      <p>
        Backup{" "}
        {showSha ? <code>{config.sha256.slice(0, 12)}</code> : "(stored)"}, Tuya store at 0x{r.storeOffset.toString(16)}
        {r.complete ? "" : <span class="badge warn">partial: {r.problems.length} problem(s)</span>}
      </p>
      <div class="table-wrap" role="region" aria-label="Stock configuration" tabIndex={0}>
        <table data-testid="stock-summary">
          <tbody>
            <tr>
              <th>Module</th>
              <td>{r.module ?? "–"}{r.chip ? ` (${r.chip})` : ""}</td>
            </tr>
            <tr>
              <th>Product key</th>
              <td>
                <code>{r.productKey ?? "–"}</code>
                {r.firmwareKey && r.firmwareKey !== r.productKey
                  ? (
                    <>
                      , firmware key <code>{r.firmwareKey}</code>
                    </>
                  )
                  : ""}
              </td>
            </tr>
            <tr>
              <th>Versions</th>
              <td>
                Wi-Fi {v.wifi ?? "–"}
                {v.mcu ? `, MCU ${v.mcu}` : ""}
                {v.baseline ? `, baseline ${v.baseline}` : ""}
              </td>
            </tr>
            <tr>
              <th>TuyaMCU</th>
              <td>{r.tuyaMcu ? `${r.tuyaMcu.baud ?? "?"} baud (${r.tuyaMcu.source})` : "no"}</td>
            </tr>
            {r.uart && (
              <tr>
                <th>UART1 chip</th>
                <td>{r.uart.baud ?? "?"} baud, parity {r.uart.parity ?? "?"}</td>
              </tr>
            )}
            <tr>
              <th>Wi-Fi SSID</th>
              <td>{r.wifi.ssid}</td>
            </tr>
          </tbody>
        </table>
      </div>
      <h3>GPIO</h3>
      {r.pins.length === 0
        ? <p>No pins in the stored config.</p>
        : (
          <div class="table-wrap" role="region" aria-label="GPIO pins" tabIndex={0}>
            <table data-testid="stock-gpio">
              <thead>
                <tr>
                  <th>Pin</th>
                  <th>Meaning</th>
                  <th>Active</th>
                  <th>Tuya key</th>
                  <th>OpenBeken role</th>
                </tr>
              </thead>
              <tbody>
                {r.pins.map((pin) => (
                  <tr key={pin.key}>
                    <td>P{pin.gpio}</td>
                    <td>{pin.meaning}</td>
                    <td>{pin.activeLevel ?? "–"}</td>
                    <td>
                      <code>{pin.key}</code>
                    </td>
                    <td>{pin.obkRole ?? "–"}{pin.channel !== undefined ? ` ch${pin.channel}` : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {r.schema.length > 0 && (
        <>
          <h3>Datapoint schema {r.schemaId}</h3>
          <div class="table-wrap" role="region" aria-label="Datapoint schema" tabIndex={0}>
            <table data-testid="stock-schema">
              <thead>
                <tr>
                  <th>dp</th>
                  <th>Mode</th>
                  <th>Type</th>
                  <th>Scale</th>
                  <th>Range</th>
                  <th>Unit</th>
                </tr>
              </thead>
              <tbody>
                {r.schema.map((d) => (
                  <tr key={d.id}>
                    <td>{d.id}</td>
                    <td>{d.mode}</td>
                    <td>{d.type}</td>
                    <td>{d.scale ?? "–"}</td>
                    <td>{d.range ? d.range.join(", ") : d.max !== undefined ? `${d.min ?? 0}..${d.max}` : "–"}</td>
                    <td>{d.unit ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h3>Proposed OpenBeken template</h3>
      <p>
        Pins: {Object.entries(p.gpio).map(([pin, role]) =>
          `P${pin} ${role}${p.channels[pin] !== undefined ? ` ch${p.channels[pin]}` : ""}`
        ).join(", ") || "none"}
      </p>
      <pre data-testid="stock-autoexec">{p.autoexec || "(no autoexec lines)"}</pre>
      {[...r.problems, ...p.warnings].map((w) => <p key={w} class="badge warn">{w}</p>)}
      {r.notes.map((n) => <p key={n}>{n}</p>)}
    </>
  );
}

/** The inventory's stock-config cell: product key, and what differs from units of the same product. */
export function StockConfigCell({ view }: { view?: { productKey: string | null; differs: string[] } }) {
  if (!view) return <>–</>;
  return (
    <>
      <code>{view.productKey ?? "?"}</code>
      {view.differs.length > 0 && (
        <span class="badge warn" data-testid="stock-outlier" title={view.differs.join("; ")}>
          differs: {view.differs.join("; ")}
        </span>
      )}
    </>
  );
}
