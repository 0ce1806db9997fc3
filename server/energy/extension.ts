/**
 * The energy feature: listens for committed readings on the bus (agents and
 * OpenBeken units), accounts them into rollups, prunes raw history past the
 * retention window, packs closed months' hours for fast year queries, and
 * serves the energy API (server/energy/api.ts).
 *
 * Days and months start at midnight in the installation's zone (config.zone,
 * FLEET_TZ). Settings (environment): RAW_RETENTION_DAYS (default 7), ENERGY_MAX_POWER_W (default 60000),
 * MINUTE_ROLLUP_RETENTION_DAYS (default 0 = keep minute rollups forever; they
 * are ~90 % of the rollup bytes, see bench/energy.ts).
 */
import { energyApi } from "./api.ts";
import {
  FLEET_ID,
  getSiteMapping,
  listEnergyStates,
  listSites,
  noteEnergyZone,
  packClosedMonths,
  pruneMinuteRollups,
} from "./store.ts";
import { pruneHistory } from "../history/store.ts";
import { getUnitPresence } from "../openbeken/presence.ts";
import { findUnitByMac, findUnitByTopic } from "../inventory/units.ts";
import type { Extension, ServerContext } from "../context.ts";
import { EnergyAccountant } from "./accountant.ts";
import type { EnergySample } from "./accounting.ts";

export interface EnergySettings {
  rawRetentionMs: number;
  /** 0 = forever */
  minuteRetentionMs: number;
  maxPowerW: number;
}

export function energySettingsFromEnv(env: Record<string, string | undefined> = Deno.env.toObject()): EnergySettings {
  const num = (
    v: string | undefined,
    d: number,
  ) => (v === undefined || v === "" || !Number.isFinite(Number(v)) ? d : Number(v));
  return {
    rawRetentionMs: num(env.RAW_RETENTION_DAYS, 7) * 86_400_000,
    minuteRetentionMs: num(env.MINUTE_ROLLUP_RETENTION_DAYS, 0) * 86_400_000,
    maxPowerW: num(env.ENERGY_MAX_POWER_W, 60_000),
  };
}

const PRUNE_EVERY_MS = 3600_000;

/** Inventory decides a meter's site: by the MAC its OBK presence reports, else by topic; else the manual mapping. */
export async function resolveSite(kv: Deno.Kv, deviceId: string): Promise<string | null> {
  const presence = await getUnitPresence(kv, deviceId);
  const unit = (presence?.mac && presence.mac.length === 17 ? await findUnitByMac(kv, presence.mac) : null) ??
    await findUnitByTopic(kv, deviceId);
  return unit?.site ?? await getSiteMapping(kv, deviceId);
}

export function energy(settings: EnergySettings = energySettingsFromEnv()): Extension {
  let accountant: EnergyAccountant | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  let pruning: Promise<void> | null = null;
  const offs: (() => void)[] = [];

  /** Pack the hours of closed months ahead of the first wide query (a no-op for months already packed). */
  const warmPacks = async (ctx: ServerContext) => {
    const targets = [
      ...(await listEnergyStates(ctx.kv)).map((s) => ({ scope: "unit" as const, id: s.deviceId })),
      ...(await listSites(ctx.kv)).map((site) => ({ scope: "site" as const, id: site })),
      { scope: "fleet" as const, id: FLEET_ID },
    ];
    await packClosedMonths(ctx.kv, targets, ctx.config.zone, ctx.clock.now());
  };

  const prune = (ctx: ServerContext) => {
    if (pruning) return;
    pruning = pruneHistory(ctx.kv, ctx.clock.now() - settings.rawRetentionMs)
      .then((n) => void (n && ctx.log.info("raw history pruned", { deleted: n })))
      .then(async () => {
        if (!settings.minuteRetentionMs) return;
        const n = await pruneMinuteRollups(ctx.kv, ctx.clock.now() - settings.minuteRetentionMs);
        if (n) ctx.log.info("minute rollups pruned", { deleted: n });
      })
      .then(() => warmPacks(ctx))
      .catch((e) => ctx.log.warn("history pruning / packing failed", { err: e }))
      .finally(() => (pruning = null));
  };

  const getAccountant = (ctx: ServerContext) =>
    accountant ??= new EnergyAccountant(ctx.kv, {
      log: ctx.log,
      siteOf: (id) => resolveSite(ctx.kv, id),
      accounting: { maxPowerW: settings.maxPowerW },
      zone: ctx.config.zone,
      now: () => ctx.clock.now(),
      onCommitted: (n) => ctx.bus.emit("energy.accounted", { samples: n }),
    });

  return {
    name: "energy",
    routes(app, ctx) {
      energyApi(app, ctx, { accountant: () => getAccountant(ctx) });
    },
    async start(ctx) {
      const { changedFrom } = await noteEnergyZone(ctx.kv, ctx.config.zone.name, ctx.clock.now());
      if (changedFrom) {
        ctx.log.warn(
          "the installation's time zone changed: day and month totals stored before now keep the old boundaries",
          {
            from: changedFrom,
            to: ctx.config.zone.name,
          },
        );
      }
      const acc = getAccountant(ctx);
      offs.push(ctx.bus.on("telemetry.committed", (e) =>
        acc.submit(e.readings.map((r): EnergySample => ({
          deviceId: r.deviceId,
          ts: r.ts,
          powerW: r.power,
          counterWh: r.energyWh,
          hasCounter: true,
        }))), "energy"));
      // a unit's MAC (so its inventory record, so its site) may become known after its first samples
      offs.push(ctx.bus.on("openbeken.unit", (e) => {
        if (e.change === "discovered" || e.change === "identified") acc.forgetSite(e.presence.deviceId);
      }, "energy"));
      offs.push(ctx.bus.on("openbeken.committed", (e) =>
        acc.submit(e.samples.map((s): EnergySample => ({
          deviceId: s.reading.deviceId,
          ts: s.reading.ts,
          powerW: s.reading.power,
          counterWh: s.counterWh,
          hasCounter: s.hasCounter,
          bootedAt: s.bootedAt,
        }))), "energy"));
      prune(ctx);
      timer = setInterval(() => prune(ctx), PRUNE_EVERY_MS);
    },
    async stop() {
      for (const off of offs) off();
      if (timer !== null) clearInterval(timer);
      await pruning;
      await accountant?.stop();
    },
  };
}
