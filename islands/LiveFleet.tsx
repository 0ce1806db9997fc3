/** Live power table of every meter plus the fleet total, fed by the server's SSE stream. */
import { useEffect, useState } from "preact/hooks";
import { type FleetSnapshot, STALE_AFTER_MS } from "../shared/fleet.ts";

const fmt = (v: number | undefined, digits: number) => v === undefined ? "–" : v.toFixed(digits);

export default function LiveFleet({ initial }: { initial: FleetSnapshot }) {
  const [snap, setSnap] = useState(initial);
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    const es = new EventSource("/api/live");
    es.addEventListener("fleet", (e) => setSnap(JSON.parse((e as MessageEvent).data)));
    es.onopen = () => setConnected(true);
    es.onerror = () => setConnected(false); // EventSource reconnects by itself
    return () => es.close();
  }, []);

  const fresh = snap.meters.filter((m) => snap.at - m.committedAt < STALE_AFTER_MS);
  return (
    <div>
      <div class="cards">
        <div class="card">
          <div class="label">Fleet power</div>
          <div class="value" data-testid="fleet-total">{fmt(snap.totalPowerW, 1)} W</div>
        </div>
        <div class="card">
          <div class="label">Meters reporting</div>
          <div class="value">{fresh.length} / {snap.meters.length}</div>
        </div>
        <div class="card">
          <div class="label">Updated</div>
          <div class="value" style="font-size:1rem">
            {new Date(snap.at).toLocaleTimeString()}{" "}
            <span class={connected ? "badge" : "badge warn"}>{connected ? "live" : "reconnecting"}</span>
          </div>
        </div>
      </div>
      {snap.meters.length === 0
        ? (
          <p class="muted">
            No meter has reported yet. Start an agent: <code>deno task agent run</code>
          </p>
        )
        : (
          <table data-testid="meters">
            <thead>
              <tr>
                <th>Meter</th>
                <th class="num">Power (W)</th>
                <th class="num">Voltage (V)</th>
                <th class="num">Current (A)</th>
                <th class="num">Energy (kWh)</th>
                <th class="num">PF</th>
                <th>Agent</th>
                <th>Last reading</th>
              </tr>
            </thead>
            <tbody>
              {snap.meters.map((m) => {
                const r = m.reading;
                const stale = snap.at - m.committedAt >= STALE_AFTER_MS;
                return (
                  <tr key={m.deviceId} class={stale ? "stale" : ""} data-meter={m.deviceId}>
                    <td>
                      <a href={`/meters/${encodeURIComponent(m.deviceId)}`}>{m.deviceId}</a>
                      {r.phases ? <span class="badge" style="margin-left:.4rem">3φ</span> : null}
                    </td>
                    <td class="num" data-field="power">{fmt(r.power, 1)}</td>
                    <td class="num">{fmt(r.voltage, 1)}</td>
                    <td class="num">{fmt(r.current, 3)}</td>
                    <td class="num">{fmt(r.energyWh / 1000, 3)}</td>
                    <td class="num">{fmt(r.powerFactor, 2)}</td>
                    <td class="muted">{m.agentId}</td>
                    <td class="muted">{stale ? "stale, " : ""}{new Date(r.ts).toLocaleTimeString()}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
    </div>
  );
}
