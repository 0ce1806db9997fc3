/** The /flash page's stock-config check: per recent batch, the unit whose stock config differs from the rest. */
import type { batchCheck } from "../server/stock-config/extension.ts";

type Check = Awaited<ReturnType<typeof batchCheck>>;

export function BatchStockChecks({ checks }: { checks: Check[] }) {
  const shown = checks.filter((c) => c.units.length > 0);
  if (!shown.length) return null;
  return (
    <section data-testid="batch-stock-check">
      <h2>Stock-config check</h2>
      {shown.map((c) => (
        <div key={c.batchId}>
          <h3>
            Batch <code>{c.batchId}</code>: {c.units.length} backup(s),{" "}
            {c.outliers.length ? <span class="badge warn">{c.outliers.length} outlier(s)</span> : "no outlier"}
          </h3>
          {c.splits.map((s) => <p key={s} class="badge warn">split: {s}</p>)}
          <table>
            <thead>
              <tr>
                <th>Port</th>
                <th>Product key</th>
                <th>Module</th>
                <th>Wi-Fi</th>
                <th>MCU</th>
                <th>Schema</th>
                <th>Differs</th>
              </tr>
            </thead>
            <tbody>
              {c.units.map((u) => {
                const o = c.outliers.find((x) => x.id === (u.port ?? u.sha256));
                const fp = u.fingerprint;
                return (
                  <tr key={u.sha256} data-outlier={o ? "yes" : "no"}>
                    <td>{u.port ?? u.sha256.slice(0, 12)}</td>
                    <td>{fp ? <code>{fp.productKey ?? "?"}</code> : u.status}</td>
                    <td>{fp?.module ?? "–"}</td>
                    <td>{fp?.wifi ?? "–"}</td>
                    <td>{fp?.mcu ?? "–"}</td>
                    <td>{fp?.schema ?? "–"}</td>
                    <td>{o ? <span class="badge warn">{o.differs.join("; ")}</span> : ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}
