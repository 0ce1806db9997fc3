/**
 * The flash-batch progress contract: what a bench agent reports per port
 * (agent → server API) and what the /flash page shows (server → island).
 */
import { z } from "zod";

export const portProgressSchema = z.object({
  port: z.string().max(200),
  phase: z.string().max(20),
  done: z.number(),
  total: z.number(),
  /** bytes per second over the last few seconds */
  rate: z.number(),
  etaS: z.number().nullable(),
  note: z.string().max(200).optional(),
});

export const batchProgressBody = z.object({ rows: z.array(portProgressSchema).max(64) });

export type PortProgress = z.infer<typeof portProgressSchema>;

export interface FlashBatch {
  batchId: string;
  agentId: string;
  rows: PortProgress[];
  startedAt: number;
  updatedAt: number;
}
