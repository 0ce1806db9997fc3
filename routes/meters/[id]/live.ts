/**
 * One meter's readings as they are committed (Server-Sent Events): the latest
 * at once, then every new one. Fed by the bus, so it costs nothing while no
 * page of that meter is open, whatever the fleet's size.
 */
import type { RouteHandler } from "../../../server/web/pages.ts";
import { getLatest } from "../../../server/meters/store.ts";
import { DEVICE_ID, type Reading } from "../../../shared/telemetry.ts";

const KEEPALIVE_MS = 15_000;

export const handler: RouteHandler = async (ctx) => {
  const id = ctx.params.id;
  if (!DEVICE_ID.test(id)) return Response.json({ error: "invalid meter id" }, { status: 400 });
  const { bus, clock, kv } = ctx.server;
  const enc = new TextEncoder();
  const offs: (() => void)[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    for (const off of offs.splice(0)) off();
    clearInterval(timer);
  };
  const latest = await getLatest(kv, id);
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      const send = (event: string, data: unknown) => {
        try {
          ctrl.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        } catch {
          stop(); // the client went away
        }
      };
      const push = (agentId: string, r: Reading) =>
        send("reading", { deviceId: id, agentId, reading: r, committedAt: clock.now() });
      if (latest) send("reading", latest);
      offs.push(bus.on("telemetry.committed", (e) => {
        for (const r of e.readings) if (r.deviceId === id) push(e.agentId, r);
      }, "meter live page"));
      offs.push(bus.on("openbeken.committed", (e) => {
        for (const s of e.samples) if (s.reading.deviceId === id) push("openbeken", s.reading);
      }, "meter live page"));
      timer = setInterval(() => {
        try {
          ctrl.enqueue(enc.encode(": keepalive\n\n"));
        } catch {
          stop();
        }
      }, KEEPALIVE_MS);
    },
    cancel: stop,
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
  });
};
