/**
 * Bench agents that take flash jobs from the browser, and the jobs sent to them.
 *
 * Keys (this module owns them):
 *   ["flash_bench", agentId]  -> FlashBench   (what the agent announced; online follows its status topic)
 *   ["flash_job", jobId]      -> FlashJobRecord (with its audit entry in the same commit)
 */
import { CONFLICT, untilCommitted } from "../kv/retry.ts";
import type { BenchAnnouncement, FlashJob } from "../../shared/flash-jobs.ts";
import { auditOp } from "../kv/audit.ts";

export interface FlashBench extends BenchAnnouncement {
  agentId: string;
  online: boolean;
  /** when the announcement or status last changed */
  at: number;
}

export interface FlashJobRecord {
  job: FlashJob;
  agentId: string;
  /** the signed-in user who started it */
  by: string;
  at: number;
}

export async function setBenchAnnouncement(kv: Deno.Kv, agentId: string, a: BenchAnnouncement, now: number) {
  return await untilCommitted(`bench ${agentId}`, async () => {
    const cur = await kv.get<FlashBench>(["flash_bench", agentId]);
    const next: FlashBench = { agentId, ...a, online: cur.value?.online ?? true, at: now };
    return (await kv.atomic().check(cur).set(cur.key, next).commit()).ok ? next : CONFLICT;
  });
}

/** The agent's status topic ("online"/"offline", its will): only benches that announced themselves are kept. */
export async function setBenchOnline(kv: Deno.Kv, agentId: string, online: boolean, now: number) {
  return await untilCommitted(`bench ${agentId}`, async () => {
    const cur = await kv.get<FlashBench>(["flash_bench", agentId]);
    if (!cur.value) return null;
    if (cur.value.online === online) return cur.value;
    const next = { ...cur.value, online, at: now };
    return (await kv.atomic().check(cur).set(cur.key, next).commit()).ok ? next : CONFLICT;
  });
}

export async function getBench(kv: Deno.Kv, agentId: string): Promise<FlashBench | null> {
  return (await kv.get<FlashBench>(["flash_bench", agentId])).value;
}

export async function listBenches(kv: Deno.Kv): Promise<FlashBench[]> {
  const out: FlashBench[] = [];
  for await (const e of kv.list<FlashBench>({ prefix: ["flash_bench"] })) out.push(e.value);
  return out;
}

/** The job and who started it, with the audit entry, in one commit; a job id is used once. */
export async function recordJob(kv: Deno.Kv, rec: FlashJobRecord): Promise<boolean> {
  const op = kv.atomic()
    .check({ key: ["flash_job", rec.job.jobId], versionstamp: null })
    .set(["flash_job", rec.job.jobId], rec);
  auditOp(op, {
    actor: rec.by,
    action: `flash.job.${rec.job.kind}`,
    target: `agent:${rec.agentId}`,
    details: {
      jobId: rec.job.jobId,
      ports: rec.job.ports,
      firmware: rec.job.firmware?.sha256,
      backup: rec.job.backupSha256,
    },
  }, rec.at);
  return (await op.commit()).ok;
}

export async function getJob(kv: Deno.Kv, jobId: string): Promise<FlashJobRecord | null> {
  return (await kv.get<FlashJobRecord>(["flash_job", jobId])).value;
}
