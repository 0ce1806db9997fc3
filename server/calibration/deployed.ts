/**
 * Calibrating a deployed OpenBeken unit: send the reference to the unit as its own console
 * commands over MQTT, then check the unit's next readings against the reference.
 *
 * OpenBeken (src/driver/drv_pwrCal.c, commands registered by PwrCal_Init for the BL0942/BL0937/
 * CSE7766/… drivers of drv_bl_shared.c): `VoltageSet <V>`, `CurrentSet <A>`, `PowerSet <W>` each take
 * the real value, refuse 0, and set that quantity's factor from the chip's latest raw value
 * (raw / real for DIVIDE chips, real / raw for MULTIPLY ones), saved to flash. A unit runs
 * `cmnd/<topic>/<Command>` with the payload as the argument. The unit keeps its factors to itself,
 * so what can be checked is the readings: the ones before, and the next full reading after.
 */
import type { ServerContext } from "../context.ts";
import { type CalibrationEntry, parseDeployedCalibration, recordDeployedCalibration } from "./store.ts";
import { getUnitPresence, isUnitOnline, presenceOfUnit, type UnitPresence } from "../openbeken/presence.ts";
import type { Unit } from "../inventory/units.ts";
import { appendCalibration } from "../inventory/units.ts";
import type { Triple } from "../../shared/meterchips/calibration.ts";

export class DeployedCalibrationError extends Error {
  constructor(message: string, readonly status: 404 | 409 | 400) {
    super(message);
  }
}

const readings = (p: UnitPresence | null): Triple | null =>
  p && p.live.voltage !== undefined && p.live.current !== undefined && p.live.power !== undefined
    ? { voltage: p.live.voltage, current: p.live.current, power: p.live.power }
    : null;

/**
 * Send, wait for the next reading (the first power update after the commands, with the voltage and current
 * of that frame), record who, when, reference, readings before/after and whether they agree.
 */
export async function calibrateDeployedUnit(
  ctx: ServerContext,
  unit: Unit,
  input: { reference: Triple; note?: string },
  by: string,
  opts: { waitMs?: number } = {},
): Promise<CalibrationEntry> {
  const body = parseDeployedCalibration({ ...input, by });
  const presence = await presenceOfUnit(ctx.kv, unit);
  const topic = presence?.topic ?? unit.topic;
  if (!topic) throw new DeployedCalibrationError(`unit ${unit.id} has no OpenBeken MQTT topic yet`, 409);
  if (!presence || !isUnitOnline(presence, ctx.clock.now())) {
    throw new DeployedCalibrationError(
      `unit ${unit.id} (${topic}) is not online: it cannot take a calibration now`,
      409,
    );
  }
  const before = readings(presence);
  const sentAt = ctx.clock.now();
  for (
    const [name, value] of Object.entries({
      VoltageSet: body.reference.voltage,
      CurrentSet: body.reference.current,
      PowerSet: body.reference.power,
    })
  ) {
    await ctx.mqtt.publish(`cmnd/${topic}/${name}`, String(value), { qos: 1 });
  }
  ctx.log.info("calibration sent to unit", { unitId: unit.id, topic, by });
  const after = await nextFullReading(ctx, topic, sentAt, opts.waitMs ?? 20_000);
  const e = await recordDeployedCalibration(
    ctx.kv,
    unit.id,
    body,
    { topic, chip: unit.meteringChip },
    ctx.clock.now(),
    {
      before,
      after,
    },
  );
  await appendCalibration(ctx.kv, unit.id, {
    by,
    at: e.at,
    ...body.reference,
    note: `deployed calibration #${e.seq}: ${
      e.verified === null ? "no reading after it" : e.verified ? "verified" : "readings still off"
    }`,
  }).catch((err) => ctx.log.warn("calibration summary on the unit failed", { unitId: unit.id, err }));
  return e;
}

/**
 * The unit's first power update after the commands. OpenBeken publishes a quantity when it moved past its
 * threshold (drv_bl_shared.c), and V, I and P go out in that order in the same frame, so once power is new
 * the calibrated voltage and current are too.
 */
async function nextFullReading(ctx: ServerContext, topic: string, sentAt: number, waitMs: number) {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const p = await getUnitPresence(ctx.kv, topic);
    if ((p?.live.powerAt ?? 0) > sentAt) {
      // let the rest of that frame land (the messages of one frame arrive within milliseconds)
      await new Promise((r) => setTimeout(r, 100));
      return readings(await getUnitPresence(ctx.kv, topic));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}
