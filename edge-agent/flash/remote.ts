/**
 * Flash jobs started from the browser (shared/flash-jobs.ts): the agent announces the ports it
 * flashes on request (retained, on its own topic), takes jobs from its own job topic, and runs each
 * like `agent flash batch` with the job id as batch id — progress goes to the server over HTTP as
 * for any batch. A job naming a port this agent did not offer, or one already busy, is refused.
 */
import type { MqttClient } from "mqtt";
import type { Logger } from "../../shared/log.ts";
import { systemClock } from "../../shared/clock.ts";
import { type CalibrationJob, calibrationJob, type FlashJob, flashJob, flashTopics } from "../../shared/flash-jobs.ts";
import type { ChipPoller } from "../drivers/chip.ts";
import { calibrateDriver } from "../calibration/bench.ts";
import { runBatch } from "./batch.ts";
import { ProgressBoard } from "./progress.ts";
import type { HttpFlashServer } from "./server-client.ts";
import { provisioningFromFile } from "./provision.ts";
import type { FlasherOptions } from "./flasher.ts";
import { describe } from "./cli.ts";

export interface FlashJobRunnerOptions {
  client: MqttClient;
  agentId: string;
  ports: string[];
  server: HttpFlashServer;
  provisionFile?: string;
  backupDir: string;
  stateDir: string;
  flasher: FlasherOptions;
  log: Logger;
  /** chip meters this agent polls: calibrated on request from a unit page */
  meters?: ChipPoller[];
}

export class FlashJobRunner {
  #busy = new Set<string>();
  #running = new Set<Promise<void>>();

  constructor(private o: FlashJobRunnerOptions) {
    const jobs = flashTopics.jobs(o.agentId);
    const calibrations = flashTopics.calibrate(o.agentId);
    const meters = (o.meters ?? []).map((m) => ({ port: m.o.port, profile: m.o.profile.id, deviceId: m.o.deviceId }));
    const announce = () => {
      o.client.subscribe([jobs, calibrations], { qos: 1 });
      o.client.publish(
        flashTopics.bench(o.agentId),
        JSON.stringify({ ports: o.ports, provision: !!o.provisionFile, meters }),
        { qos: 1, retain: true },
      );
    };
    o.client.on("connect", announce);
    if (o.client.connected) announce();
    o.client.on("message", (topic, payload) => {
      if (topic === calibrations) return this.#onCalibration(payload);
      if (topic !== jobs) return;
      let job: FlashJob;
      try {
        job = flashJob.parse(JSON.parse(new TextDecoder().decode(payload)));
      } catch (e) {
        o.log.warn("flash job refused: malformed", { err: e });
        return;
      }
      const run = this.#run(job).catch((e) => o.log.error("flash job failed", { jobId: job.jobId, err: e }));
      this.#running.add(run);
      run.finally(() => this.#running.delete(run));
    });
  }

  async #run(job: FlashJob) {
    const o = this.o;
    const refuse = async (note: string) => {
      o.log.warn("flash job refused", { jobId: job.jobId, note });
      await o.server.reportProgress(
        job.jobId,
        job.ports.map((port) => ({ port, phase: "failed", done: 0, total: 1, rate: 0, etaS: null, note })),
      ).catch(() => {});
    };
    const foreign = job.ports.filter((p) => !o.ports.includes(p));
    if (foreign.length) return await refuse(`not a flash port of this bench: ${foreign.join(", ")}`);
    const busy = job.ports.filter((p) => this.#busy.has(p));
    if (busy.length) return await refuse(`busy with another job: ${busy.join(", ")}`);
    for (const p of job.ports) this.#busy.add(p);
    o.log.info("flash job started", { jobId: job.jobId, kind: job.kind, ports: job.ports, by: job.requestedBy });
    try {
      const image = job.kind === "restore"
        ? {
          name: `backup-${job.backupSha256!.slice(0, 12)}`,
          data: await o.server.fetchBlob("backup", job.backupSha256!),
        }
        : job.firmware
        ? { name: job.firmware.name, data: await o.server.fetchBlob("firmware", job.firmware.sha256) }
        : undefined;
      if (job.kind === "provision" && !o.provisionFile) return await refuse("this bench has no provisioning file");
      const provision = job.kind === "provision" ? await provisioningFromFile(o.provisionFile!, o.server) : undefined;
      const results = await runBatch({
        ports: job.ports,
        image,
        backupDir: o.backupDir,
        stateDir: o.stateDir,
        server: o.server,
        provision,
        flasher: o.flasher,
        clock: systemClock,
        log: o.log,
        board: new ProgressBoard({ writeSync: (b) => b.length, isTerminal: () => false }),
        batchId: job.jobId,
        ...(job.kind === "restore" ? { restore: { backupSha256: job.backupSha256! } } : {}),
      });
      for (const r of results) {
        if (r.ok) o.log.info("flash job port done", { jobId: job.jobId, port: r.port, mac: r.result.record.mac });
        else o.log.warn("flash job port failed", { jobId: job.jobId, port: r.port, error: describe(r.error) });
      }
    } catch (e) {
      await refuse(describe(e).slice(0, 200));
    } finally {
      for (const p of job.ports) this.#busy.delete(p);
    }
  }

  #onCalibration(payload: Uint8Array) {
    let job: CalibrationJob;
    try {
      job = calibrationJob.parse(JSON.parse(new TextDecoder().decode(payload)));
    } catch (e) {
      this.o.log.warn("calibration job refused: malformed", { err: e });
      return;
    }
    const run = this.#calibrate(job).catch((e) =>
      this.o.log.error("calibration job failed", { jobId: job.jobId, err: e })
    );
    this.#running.add(run);
    run.finally(() => this.#running.delete(run));
  }

  /** Measure the reference load on the port's chip meter, apply the factors, store the record for the unit. */
  async #calibrate(job: CalibrationJob) {
    const poller = this.o.meters?.find((m) => m.o.port === job.port);
    if (!poller) return this.o.log.warn("calibration job refused: no chip meter on that port", { port: job.port });
    const r = await calibrateDriver(poller, job.reference, {
      samples: 3,
      waitRaw: () => new Promise((res) => setTimeout(res, poller.pollMs)),
    });
    await this.o.server.postCalibration(job.unitId, {
      chip: r.chip,
      reference: job.reference,
      raw: r.raw,
      oldFactors: r.oldFactors,
      operator: job.requestedBy,
      benchHost: Deno.hostname(),
      note: `job ${job.jobId} on ${job.port}`,
    });
    this.o.log.info("bench calibration stored", { jobId: job.jobId, unitId: job.unitId, port: job.port });
  }

  /** wait for running jobs (agent shutdown) */
  async drain() {
    await Promise.allSettled([...this.#running]);
  }
}
