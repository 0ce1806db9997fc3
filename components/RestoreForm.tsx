/**
 * The unit page's restore section: write one of the unit's backups back onto it at a connected bench
 * (sent as a restore job to that bench agent; progress on /flash).
 */
import type { FlashBench } from "../server/flash/jobs_store.ts";

export function RestoreForm(
  { csrf, backups, benches }: {
    csrf: string;
    backups: { backupId: string; at: number; benchHost: string | null }[];
    benches: FlashBench[];
  },
) {
  if (backups.length === 0) return <p class="muted">No backup of this unit yet.</p>;
  const targets = benches.filter((b) => b.online).flatMap((b) => b.ports.map((p) => ({ agentId: b.agentId, port: p })));
  if (targets.length === 0) {
    return <p class="muted">No bench agent with flash ports is connected (agent run --flash-port …).</p>;
  }
  return (
    <form method="post" class="filters" data-testid="restore-form">
      <input type="hidden" name="_csrf" value={csrf} />
      <input type="hidden" name="form" value="restore" />
      <label>
        backup{" "}
        <select name="backup">
          {backups.map((b, i) => (
            <option key={b.backupId} value={b.backupId}>
              {new Date(b.at).toISOString().slice(0, 16).replace("T", " ")} {i === 0 ? "(first: stock)" : ""}{" "}
              {b.backupId.slice(0, 12)} {b.benchHost ? `on ${b.benchHost}` : ""}
            </option>
          ))}
        </select>
      </label>
      <label>
        onto{" "}
        <select name="target">
          {targets.map((t) => (
            <option key={`${t.agentId} ${t.port}`} value={`${t.agentId} ${t.port}`}>{t.agentId}: {t.port}</option>
          ))}
        </select>
      </label>
      <button type="submit">Restore</button>
    </form>
  );
}
