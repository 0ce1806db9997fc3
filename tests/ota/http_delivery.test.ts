/**
 * HTTP OTA delivery (`GET /api/info`, `POST /api/ota`, `POST /api/reboot`) to units with an OpenBeken web password:
 * the stored password goes as Basic auth (user admin) and the units reach verified; a wrong or missing password,
 * an address that is not the unit's own, a refused connection, a silent unit and a short write each end the device
 * failed with that cause, and no image is sent where it must not be. The password is sealed at rest and never
 * shown again.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { freePort, waitFor } from "../helpers/net.ts";
import {
  createRollout,
  NEW,
  OLD,
  pointHttpAt,
  registerFleet,
  rolloutState,
  setWebPassword,
  startFleet,
  startOtaServer,
  unitIdOf,
  uploadFirmware,
} from "./fleet.ts";
import { obkRequest } from "../../server/ota/obk_http.ts";
import { deliverOverHttp, unitHttpTarget } from "../../server/ota/http_delivery.ts";
import type { Rollout } from "../../server/ota/store.ts";

const PASSWORD = "w3b pass, 32 chars at most!";

Deno.test("HTTP delivery with a web password: the right one verifies; a wrong, a missing one or a foreign address fails with its cause", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 5, { http: true, firstIndex: 800, webPassword: PASSWORD });
  try {
    await registerFleet(srv, fleet);
    // unit 4 is pointed at a host that is not where the unit says it is
    await pointHttpAt(
      srv,
      fleet,
      (i) => (i === 4 ? `10.66.0.9:${fleet.units[4].httpPort}` : `127.0.0.1:${fleet.units[i].httpPort}`),
    );
    const [a, b, wrong, none, foreign] = fleet.units;
    await setWebPassword(srv, a.topic, PASSWORD);
    // b's is stored through the unit page's form, as an operator does in the browser
    const bId = await unitIdOf(srv, b.topic);
    const form = await (await srv.api(`/units/${bId}`)).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form)![1];
    const stored = await srv.api(`/units/${bId}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-csrf-token": "" },
      body: new URLSearchParams({ _csrf: csrf, form: "web-password", webPassword: PASSWORD }),
    });
    assert((await stored.text()).includes("web password stored"));
    const tooLong = await srv.api(`/api/units/${bId}/web-password`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password: "x".repeat(33) }),
    });
    assertEquals([tooLong.status, (await tooLong.json()).error], [
      400,
      "OpenBeken web passwords are at most 32 characters",
    ]);
    await setWebPassword(srv, wrong.topic, PASSWORD.slice(0, -1));
    await setWebPassword(srv, foreign.topic, PASSWORD);
    const fw = await uploadFirmware(srv);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      delivery: "http",
      pacingPerMin: 3000,
      groups: [{ name: "all", percent: 100, successThreshold: 40, errorThreshold: 100 }],
    });
    const done = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" ? s : null;
    }, { what: "HTTP rollout finished", timeoutMs: 30_000 });
    const dev = new Map(done.devices.map((d) => [d.topic, d]));
    assertEquals([a, b].map((u) => [dev.get(u.topic)!.state, u.version, u.httpOtaUploads]), [
      ["verified", NEW, 1],
      ["verified", NEW, 1],
    ]);
    assertEquals([wrong, none, foreign].map((u) => [dev.get(u.topic)!.state, u.version, u.httpOtaUploads]), [
      ["failed", OLD, 0],
      ["failed", OLD, 0],
      ["failed", OLD, 0],
    ]);
    assertMatch(dev.get(wrong.topic)!.error!, /GET \/api\/info: the unit refused the stored web password \(401\)/);
    assertMatch(dev.get(none.topic)!.error!, /asks for a web password \(401\) and none is stored/);
    assertMatch(
      dev.get(foreign.topic)!.error!,
      /httpAddress 10\.66\.0\.9:\d+ is not at the ip the unit reports \(127\.0\.0\.1\)/,
    );

    // never shown again: not by the API, not on the unit page, not in the KV file in the clear
    const id = await unitIdOf(srv, a.topic);
    const info = await (await srv.api(`/api/units/${id}/web-password`)).json();
    assertEquals([info.set, info.setBy, "password" in info], [true, "test-admin", false]);
    const page = await (await srv.api(`/units/${id}`)).text();
    assert(page.includes("set by test-admin"));
    assert(!page.includes(PASSWORD));
    for await (const e of srv.kv.list({ prefix: [] })) {
      assert(!JSON.stringify(e.value ?? null).includes(PASSWORD), `plaintext in ${JSON.stringify(e.key)}`);
    }
    const kvBytes = new TextDecoder("latin1").decode(await Deno.readFile(srv.config.kvPath));
    assert(!kvBytes.includes(PASSWORD));
    assertEquals((await Deno.stat(`${srv.dir}/secrets.key`)).mode! & 0o777, 0o600);
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

const rollout = { platform: "BK7231N" } as Rollout;

/** A unit's web server on a raw socket, answering like OpenBeken (bare-LF status line, no Content-Length). */
function rawUnit(answer: (request: string) => string | null) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      open.add(conn);
      (async () => {
        const buf = new Uint8Array(65536);
        let req = "";
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          req += new TextDecoder("latin1").decode(buf.subarray(0, n));
          const head = req.indexOf("\r\n\r\n");
          if (head === -1) continue;
          const len = Number(/content-length: (\d+)/i.exec(req)?.[1] ?? 0);
          if (req.length - head - 4 < len) continue;
          break;
        }
        const out = answer(req);
        if (out === null) return; // say nothing, keep the connection open
        await conn.write(new TextEncoder().encode(out)).catch(() => {});
        conn.close();
        open.delete(conn);
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const c of open) c.close();
    },
  };
}

const obk = (code: number, body: string) =>
  `HTTP/1.1 ${code} OK\nContent-type: application/json\nAccess-Control-Allow-Origin: *\nConnection: close\n\n${body}`;
const INFO = JSON.stringify({ mqtttopic: "obk8C000001", chipset: "BK7231N", build: `Built on x version ${OLD}` });

Deno.test("HTTP delivery keeps the real cause: refused, timeout, short write, another unit at that address, another chip", async () => {
  const image = new Uint8Array(5000);
  const steps = { uploading: async () => {} };
  // answers get a roomy budget (a loaded CI host); only the silent unit's case waits out a short one
  const answered = { infoMs: 5000, uploadMs: 5000 };
  const run = (port: number, topic = "obk8C000001", timeouts = answered) =>
    deliverOverHttp({
      rollout,
      topic,
      target: { host: "127.0.0.1", port },
      password: null,
      image,
      steps,
      timeouts,
    })
      .then(() => "ok", (e: Error) => e.message);

  // refused: nothing listens there
  const gonePort = freePort();
  assertMatch(await run(gonePort), /^connection refused by 127\.0\.0\.1:\d+$/);

  const silent = rawUnit(() => null);
  assertMatch(
    await run(silent.port, undefined, { infoMs: 400, uploadMs: 400 }),
    /^no answer from 127\.0\.0\.1:\d+ to GET \/api\/info within 0\.4 s$/,
  );
  silent.close();

  const short = rawUnit((req) =>
    req.startsWith("GET /api/info")
      ? obk(200, INFO)
      : req.startsWith("POST /api/ota")
      ? obk(200, `{"size":4096}`)
      : obk(200, "{}")
  );
  assertEquals(await run(short.port), "POST /api/ota wrote 4096 of 5000 bytes (wrong size)");
  assertEquals(
    await run(short.port, "obk8C000002"),
    `127.0.0.1:${short.port} is unit obk8C000001, not obk8C000002: not sent`,
  );
  short.close();

  const tchip = rawUnit(() => obk(200, INFO.replace("BK7231N", "BK7231T")));
  assertEquals(await run(tchip.port), "the unit reports chipset BK7231T over HTTP, the image is for BK7231N: not sent");
  tchip.close();

  // OpenBeken's own error line: a negative code, bare LF, no length
  const neg = rawUnit((
    req,
  ) => (req.startsWith("GET") ? obk(200, INFO) : "HTTP/1.1 -20 OK\nConnection: close\n\nsize error"));
  assertEquals(await run(neg.port), "POST /api/ota answered -20: size error");
  neg.close();

  // and a well-behaved unit, with the Basic header as OpenBeken decodes it
  let auth = "";
  const good = rawUnit((req) => {
    auth = /authorization: (.*)\r\n/i.exec(req)?.[1] ?? "";
    return req.startsWith("GET")
      ? obk(200, INFO)
      : req.startsWith("POST /api/ota")
      ? obk(200, `{"size":5000}`)
      : obk(200, `{"reboot":3}`);
  });
  const res = await obkRequest({
    host: "127.0.0.1",
    port: good.port,
    method: "GET",
    path: "/api/info",
    password: "pw:x",
    timeoutMs: 5000,
  });
  assertEquals([res.status, res.headers.get("content-type"), JSON.parse(new TextDecoder().decode(res.body)).chipset], [
    200,
    "application/json",
    "BK7231N",
  ]);
  assertEquals(atob(auth.replace(/^Basic /, "")), "admin:pw:x");
  assertEquals(await run(good.port), "ok");
  good.close();

  // the address rule, on its own
  assertEquals(unitHttpTarget("192.168.1.50", null), { host: "192.168.1.50", port: 80 });
  assertEquals(unitHttpTarget("192.168.1.50", "192.168.1.50:8080"), { host: "192.168.1.50", port: 8080 });
  assertMatch(
    String(
      await Promise.resolve().then(() => unitHttpTarget("192.168.1.50", "evil.example:80")).catch((e) => e.message),
    ),
    /not at the ip the unit reports/,
  );
  assertMatch(
    String(await Promise.resolve().then(() => unitHttpTarget(null, null)).catch((e) => e.message)),
    /has not reported its ip/,
  );
});
