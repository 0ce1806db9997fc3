/**
 * Bench jobs started from the browser: the server sends a job to one connected bench agent over
 * MQTT, the agent runs it like `deno task agent flash batch` and reports progress over HTTP as
 * today (shared/flash-progress.ts, batch id = job id).
 *
 *   agent → server  meterfleet/v1/agents/<id>/flash/bench  (retained) {ports, provision}: what it offers
 *   server → agent  meterfleet/v1/agents/<id>/flash/jobs   (QoS 1) a FlashJob
 * An agent may only publish and subscribe under its own id (server/auth/policy.ts), so a job for
 * one bench never reaches another, and a bench speaks only for itself.
 */
import { z } from "zod";
import { TOPIC_ROOT } from "./topics.ts";

export const flashTopics = {
  bench: (agentId: string) => `${TOPIC_ROOT}/agents/${agentId}/flash/bench`,
  jobs: (agentId: string) => `${TOPIC_ROOT}/agents/${agentId}/flash/jobs`,
  /** server → agent: calibrate the chip meter the agent polls on one port (a CalibrationJob) */
  calibrate: (agentId: string) => `${TOPIC_ROOT}/agents/${agentId}/flash/calibrate`,
  allBenches: `${TOPIC_ROOT}/agents/+/flash/bench`,
};

export const FLASH_JOB_KINDS = ["backup", "flash", "provision", "restore"] as const;
export type FlashJobKind = typeof FLASH_JOB_KINDS[number];

const SHA = /^[0-9a-f]{64}$/;
export const JOB_ID = /^j-[A-Za-z0-9_.-]{4,60}$/;

export const benchAnnouncement = z.object({
  /** serial ports this agent flashes on request (its --flash-port list) */
  ports: z.array(z.string().min(1).max(200)).max(64),
  /** it holds a provisioning file, so it can run "provision" jobs */
  provision: z.boolean(),
  /** chip meters it polls (agent run --port … --profile …), which it can calibrate on request */
  meters: z.array(z.object({ port: z.string().max(200), profile: z.string().max(60), deviceId: z.string().max(120) }))
    .max(64).default([]),
}).strict();
export type BenchAnnouncement = z.infer<typeof benchAnnouncement>;

export const flashJob = z.object({
  jobId: z.string().regex(JOB_ID),
  kind: z.enum(FLASH_JOB_KINDS),
  ports: z.array(z.string().min(1).max(200)).min(1).max(64),
  /** flash, provision: a registered firmware image (by sha256) and its file name */
  firmware: z.object({ sha256: z.string().regex(SHA), name: z.string().max(120) }).strict().optional(),
  /** restore: the backup written back */
  backupSha256: z.string().regex(SHA).optional(),
  /** the signed-in user who started it (for the agent's log; the server keeps the audit) */
  requestedBy: z.string().max(60),
}).strict().superRefine((j, ctx) => {
  if ((j.kind === "flash" || j.kind === "provision") && !j.firmware) {
    ctx.addIssue({ code: "custom", message: `a ${j.kind} job names a firmware image` });
  }
  if (j.kind === "restore" && (!j.backupSha256 || j.ports.length !== 1)) {
    ctx.addIssue({ code: "custom", message: "a restore job names one backup and one port" });
  }
});
export type FlashJob = z.infer<typeof flashJob>;

const triple = z.object({
  voltage: z.number().positive(),
  current: z.number().positive(),
  power: z.number().positive(),
})
  .strict();

/** Calibrate a bench chip meter against a reference load; the agent stores the record for `unitId`. */
export const calibrationJob = z.object({
  jobId: z.string().regex(JOB_ID),
  port: z.string().min(1).max(200),
  unitId: z.string().max(64),
  reference: triple,
  requestedBy: z.string().max(60),
}).strict();
export type CalibrationJob = z.infer<typeof calibrationJob>;
