/**
 * OTA over MQTT `ota_http` against the STRICT OpenBeken simulator: its download
 * client is OpenBeken's (raw socket, 255-byte reads, case-sensitive
 * `Content-Length`, no chunked decoding; edge-agent/sim/obk-httpclient.ts),
 * and every `ota_http` ends in a reboot. A server whose download answer a real
 * unit cannot complete leaves every unit on its old version.
 */
import { assert, assertEquals } from "@std/assert";
import { waitFor } from "../helpers/net.ts";
import { buildFakeRbl, fakeRblName } from "../../edge-agent/sim/obk-image.ts";
import { obkHttpGet } from "../../edge-agent/sim/obk-httpclient.ts";
import { createRollout, json, NEW, OLD, registerFleet, rolloutState, startFleet, startOtaServer } from "./fleet.ts";
import type { TestServer } from "../helpers/server.ts";

const MiB = 1024 * 1024;

async function upload(srv: TestServer, chip: string, version: string, total: number) {
  const img = buildFakeRbl({ chip, version, size: total - 96 });
  assertEquals(img.length, total);
  const fw = await json<{ id: string; sha256: string; size: number }>(
    srv.api(`/api/firmware?filename=${fakeRblName(chip, version)}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: img as Uint8Array<ArrayBuffer>,
    }),
  );
  return { fw, img };
}

Deno.test("ota_http to strict OpenBeken units: BK7231N and BK7231T images up to 2 MiB all end verified, each unit read every byte", async () => {
  const srv = await startOtaServer();
  const nUnits = await startFleet(srv, 3, { chip: "BK7231N", firstIndex: 1 });
  const tUnits = await startFleet(srv, 3, { chip: "BK7231T", firstIndex: 101 });
  try {
    await registerFleet(srv, nUnits);
    await registerFleet(srv, tUnits);
    const n = await upload(srv, "BK7231N", NEW, 2 * MiB);
    const t = await upload(srv, "BK7231T", NEW, MiB + 12_345);
    const rn = await createRollout(srv, {
      firmwareId: n.fw.id,
      verifyTimeoutMs: 120_000, // six 2 MiB downloads in 255-byte reads on a loaded 2-core machine
      pacingPerMin: 6000,
      groups: [{ name: "all", percent: 100, successThreshold: 100, errorThreshold: 0 }],
    });
    const rt = await createRollout(srv, {
      firmwareId: t.fw.id,
      verifyTimeoutMs: 120_000,
      pacingPerMin: 6000,
      groups: [{ name: "all", percent: 100, successThreshold: 100, errorThreshold: 0 }],
    });
    assertEquals([rn.total, rt.total], [3, 3]);
    for (const [r, fleet, size] of [[rn, nUnits, n.img.length], [rt, tUnits, t.img.length]] as const) {
      const done = await waitFor(async () => {
        const s = await rolloutState(srv, r.id);
        return s.devices.every((d) => !["scheduled", "commanded", "downloading", "rebooting"].includes(d.state))
          ? s
          : null;
      }, { what: `rollout ${r.platform} to settle`, timeoutMs: 90_000 });
      for (const u of fleet.units) {
        const last = u.downloads.at(-1);
        // the real reason when this fails: what the unit's client saw
        assertEquals(
          last && { outcome: last.outcome, contentLength: last.contentLength, bytes: last.bytes },
          { outcome: "done", contentLength: size, bytes: size },
          `${u.topic} ${JSON.stringify(last)}`,
        );
        assertEquals(u.version, NEW, u.topic);
        assertEquals(u.otaCommands, 1);
      }
      assertEquals(done.devices.map((d) => d.state), ["verified", "verified", "verified"]);
      assertEquals(done.rollout.status, "finished");
      // the state followed the bytes: "rebooting" was entered only once the whole image was delivered
      for (const d of done.devices) {
        const notes = d.log.map((l) => `${l.state}:${l.note ?? ""}`);
        assert(
          notes.some((x) => x.startsWith("rebooting:") && x.includes(`${size} bytes delivered`)),
          notes.join(" | "),
        );
      }
    }
  } finally {
    await nUnits.stop();
    await tUnits.stop();
    await srv.close();
  }
});

/** A test-local responder on a raw socket that answers with `head` (status line + headers) and then the body. */
function rawResponder(head: (size: number) => string, body: Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(1024);
        await conn.read(buf);
        try {
          await writeAll(conn, new TextEncoder().encode(head(body.length)));
          await writeAll(conn, body);
        } catch { /* the client hung up */ }
        conn.close();
      })();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/fw/image.rbl`,
    close: async () => {
      listener.close();
      await served;
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

Deno.test("the strict client stops after its first read without an exact `Content-Length`: lower case, chunked, or a header line over 253 bytes", async () => {
  const img = buildFakeRbl({ chip: "BK7231N", version: NEW, size: 64 * 1024 });
  const cases: [string, (n: number) => string, (d: Awaited<ReturnType<typeof obkHttpGet>>) => void][] = [
    [
      "exact",
      (n) =>
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`,
      (d) => assertEquals([d.outcome, d.contentLength, d.written.length], ["done", img.length, img.length]),
    ],
    [
      "lower case (what Deno's HTTP server writes)",
      (n) => `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${n}\r\n\r\n`,
      (d) => {
        assertEquals([d.outcome, d.contentLength], ["done", null]);
        assert(d.written.length < 255, `stopped after the first read, got ${d.written.length}`);
      },
    ],
    [
      "chunked",
      () => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n`,
      (d) => {
        assertEquals([d.outcome, d.chunked], ["done", true]);
        assert(d.written.length < 255);
      },
    ],
    [
      "a 300-byte header line (a Content-Security-Policy)",
      (n) => `HTTP/1.1 200 OK\r\nContent-Security-Policy: ${"x".repeat(270)}\r\nContent-Length: ${n}\r\n\r\n`,
      (d) => assertEquals([d.outcome, d.written.length], ["bad_response", 0]),
    ],
  ];
  for (const [name, head, check] of cases) {
    const r = rawResponder(head, img);
    try {
      const d = await obkHttpGet(r.url, { timeoutMs: 10_000 });
      check(d);
      assertEquals(
        d.request,
        "GET /fw/image.rbl HTTP/1.1\r\nHost: 127.0.0.1:" + new URL(r.url).port +
          "\r\nContent-Length: 0\r\nContent-Type: text/csv\r\n\r\n",
        name,
      );
    } finally {
      await r.close();
    }
  }
  // and Deno's own server, whatever header case the code asks for
  const ac = new AbortController();
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    () =>
      new Response(img as Uint8Array<ArrayBuffer>, {
        headers: { "Content-Type": "application/octet-stream", "Content-Length": String(img.length) },
      }),
  );
  try {
    const d = await obkHttpGet(`http://127.0.0.1:${deno.addr.port}/x.rbl`);
    assertEquals(d.contentLength, null);
    assert(d.headerNames.includes("content-length"), d.headerNames.join(","));
    assert(d.written.length < 255);
  } finally {
    ac.abort();
    await deno.finished;
  }
});

Deno.test("every ota_http ends in a reboot into the old image when the download fails: 404, refused, bad URL", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 3);
  try {
    await registerFleet(srv, fleet);
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const refusedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const urls = [
      `${srv.url}/fw/0000/nothing.rbl`,
      `http://127.0.0.1:${refusedPort}/x.rbl`,
      "http://no-slash-after-host",
    ];
    const server = srv.server.ctx.mqtt;
    for (const [i, u] of fleet.units.entries()) await server.publish(`cmnd/${u.topic}/ota_http`, urls[i], { qos: 1 });
    await waitFor(() => fleet.units.every((u) => u.reboots === 1 && u.online), {
      what: "every unit rebooted and back",
      timeoutMs: 20_000,
    });
    assertEquals(fleet.units.map((u) => u.downloads[0].outcome), ["not_200", "refused", "bad_url"]);
    assertEquals(fleet.units.map((u) => u.version), [OLD, OLD, OLD]);
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("a unit whose download breaks off halfway fails with how far it got, boots its old image, and is retried by retry_failed", async () => {
  const srv = await startOtaServer();
  const fleet = await startFleet(srv, 4, { behaviourOf: (i) => (i === 2 ? "drop_half" : "ok") });
  try {
    await registerFleet(srv, fleet);
    const { fw, img } = await upload(srv, "BK7231N", NEW, 300_000);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      pacingPerMin: 6000,
      groups: [{ name: "all", percent: 100, successThreshold: 50, errorThreshold: 50 }],
    });
    const settled = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      return s.rollout.status === "finished" ? s : null;
    }, { what: "the rollout to finish with one failure", timeoutMs: 60_000 });
    const dropper = fleet.units[2];
    const d = settled.devices.find((x) => x.topic === dropper.topic)!;
    assertEquals(d.state, "failed");
    assert(d.error?.startsWith("download cut off after at most"), d.error ?? "");
    assertEquals(dropper.downloads[0].outcome, "closed_early");
    assertEquals(dropper.version, OLD);
    assertEquals(dropper.reboots, 1); // OpenBeken reboots after every ota_http
    // never "rebooting" on the way: the image was not delivered
    assert(!d.log.some((l) => l.state === "rebooting"), JSON.stringify(d.log));

    // the first command's URL is spent: replaying it serves nothing and changes nothing
    const replay = await obkHttpGet(dropper.downloads[0].url);
    assertEquals(replay.status, 409);
    assertEquals((await rolloutState(srv, r.id)).devices.find((x) => x.topic === dropper.topic)!.state, "failed");

    const res = await srv.api(`/api/rollouts/${r.id}/retry_failed`, { method: "POST" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    const again = await waitFor(async () => {
      const s = await rolloutState(srv, r.id);
      const x = s.devices.find((y) => y.topic === dropper.topic)!;
      return x.state === "verified" ? x : null;
    }, { what: "the retried unit verified", timeoutMs: 30_000 });
    assertEquals(again.attempts, 2);
    assertEquals(dropper.version, NEW);
    assertEquals(dropper.downloads.map((x) => [x.outcome, x.bytes]), [
      ["closed_early", dropper.downloads[0].bytes],
      ["done", img.length],
    ]);
    assert(dropper.downloads[0].bytes < img.length);
    assert(dropper.downloads[0].url !== dropper.downloads[1].url, "a new command has a new secret");
  } finally {
    await fleet.stop();
    await srv.close();
  }
});

Deno.test("download trust: only the commanded unit's own URL, once; no public /fw; backup blobs are never served as firmware", async () => {
  const srv = await startOtaServer();
  const topic = "obkDEAF0001";
  // a unit that takes its command but does not download (so the test can probe the URL while it is commanded)
  const { unit, urls } = await handDrivenUnit(srv, topic, "c8:47:8c:de:af:01");
  try {
    await unit.publishAsync(`${topic}/connected`, "online", { qos: 1, retain: true });
    await unit.publishAsync(`${topic}/build`, `OpenBK7231N ${OLD} Jul 24 2026 10:41:55`, { qos: 1 });
    await unit.publishAsync(`${topic}/uptime`, "120", { qos: 1 });
    const { fw, img } = await upload(srv, "BK7231N", NEW, 50_000);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      pacingPerMin: 6000,
      groups: [{ name: "all", percent: 100, successThreshold: 100, errorThreshold: 100 }],
    });
    const url = await waitFor(() => urls[0], { what: "the ota_http command", timeoutMs: 20_000 });
    const state = async () => (await rolloutState(srv, r.id)).devices[0].state;
    assertEquals(await state(), "commanded");
    const u = new URL(url);
    assert(u.pathname.length <= 127, "fits OpenBeken's path buffer");
    assert(u.port !== new URL(srv.url).port, "the OTA responder has its own port");
    const [, , rid, uid, token] = u.pathname.split("/");
    // wrong or missing secret, another path, another method: refused, nothing changes
    for (
      const p of [`/ota/${rid}/${uid}/${"A".repeat(token.length)}/x.rbl`, `/ota/${rid}/${uid}`, `/fw/${fw.sha256}/x`]
    ) {
      const got = await obkHttpGet(`${u.origin}${p}`);
      assertEquals(got.status, 404, p);
    }
    assertEquals(await state(), "commanded");

    // the web app: no anonymous firmware download, and never a backup blob, even signed in
    const anon = await fetch(`${srv.url}/fw/${fw.sha256}/x.rbl`, { redirect: "manual" });
    await anon.body?.cancel();
    assert(anon.status === 401 || anon.status === 302 || anon.status === 303, `anonymous /fw got ${anon.status}`);
    const { putBlob } = await import("../../server/kv/blobs.ts");
    const backup = await putBlob(srv.kv, new TextEncoder().encode("a customer's flash dump with Wi-Fi keys"));
    const b = await srv.api(`/fw/${backup.sha256}/backup.bin`);
    await b.body?.cancel();
    assertEquals(b.status, 404);
    const ok = await srv.api(`/fw/${fw.sha256}/x.rbl`);
    assertEquals((await ok.arrayBuffer()).byteLength, img.length);

    // the right URL, read by a client that hangs up after 1,000 bytes: cut off, failed, not "rebooting"
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    await conn.write(new TextEncoder().encode(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`));
    const head = new Uint8Array(1000);
    let n = 0;
    while (n < head.length) n += (await conn.read(head.subarray(n))) ?? head.length;
    const text = new TextDecoder("latin1").decode(head);
    assert(
      text.startsWith(
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${img.length}\r\nConnection: close\r\n\r\n`,
      ),
      text.slice(0, 200),
    );
    conn.close();
    const failed = await waitFor(async () => {
      const d = (await rolloutState(srv, r.id)).devices[0];
      return d.state === "failed" ? d : null;
    }, { what: "the cut-off download to fail the device" });
    assert(failed.error?.includes(`of ${img.length} bytes`), failed.error ?? "");
    // spent: the same URL again is refused and changes nothing
    assertEquals((await obkHttpGet(url)).status, 409);
    assertEquals(await state(), "failed");
  } finally {
    unit.end(true);
    await srv.close();
  }
});

Deno.test("nothing is verified that did not reboot into the new version: a unit naming the new version without a reboot stays in flight", async () => {
  const srv = await startOtaServer();
  const topic = "obkDEAF0002";
  const { unit, urls } = await handDrivenUnit(srv, topic, "c8:47:8c:de:af:02");
  try {
    const build = (v: string) => `OpenBK7231N ${v} Jul 24 2026 10:41:55`;
    await unit.publishAsync(`${topic}/connected`, "online", { qos: 1, retain: true });
    await unit.publishAsync(`${topic}/build`, build(OLD), { qos: 1 });
    await unit.publishAsync(`${topic}/uptime`, "1000", { qos: 1 });
    const { fw, img } = await upload(srv, "BK7231N", NEW, 40_000);
    const r = await createRollout(srv, {
      firmwareId: fw.id,
      pacingPerMin: 6000,
      groups: [{ name: "all", percent: 100, successThreshold: 100, errorThreshold: 100 }],
    });
    const url = await waitFor(() => urls[0], { what: "the ota_http command", timeoutMs: 20_000 });
    const got = await obkHttpGet(url);
    assertEquals([got.outcome, got.written.length], ["done", img.length]);
    const state = async () => (await rolloutState(srv, r.id)).devices[0];
    await waitFor(async () => (await state()).state === "rebooting", { what: "rebooting once every byte was read" });
    // the unit claims the new version, but its uptime says it never rebooted
    await unit.publishAsync(`${topic}/build`, build(NEW), { qos: 1 });
    await unit.publishAsync(`${topic}/uptime`, "1030", { qos: 1 });
    await new Promise((res) => setTimeout(res, 600)); // 15 engine ticks
    assertEquals((await state()).state, "rebooting");
    // a real reboot: uptime starts again
    await unit.publishAsync(`${topic}/uptime`, "0", { qos: 1 });
    await waitFor(async () => (await state()).state === "verified", { what: "verified after the reboot" });
  } finally {
    unit.end(true);
    await srv.close();
  }
});

/**
 * A unit driven by hand over MQTT with its own credential, registered in inventory: it collects the commands it
 * is sent (the `ota_http` URLs) and does nothing else unless the test publishes for it.
 */
async function handDrivenUnit(srv: Awaited<ReturnType<typeof startOtaServer>>, topic: string, mac: string) {
  const mqtt = (await import("mqtt")).default;
  const cred = await srv.deviceCredentials(topic);
  const unit = mqtt.connect(srv.brokerUrl, {
    clientId: cred.clientId ?? topic,
    username: cred.username,
    password: cred.password,
    reconnectPeriod: 0,
  });
  const urls: string[] = [];
  try {
    await new Promise<void>((res, rej) => {
      unit.once("connect", () => res());
      unit.once("error", rej);
    });
    unit.on("message", (_t, p) => urls.push(p.toString()));
    await unit.subscribeAsync(`cmnd/${topic}/+`, { qos: 1 });
    await json(srv.api("/api/units", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ mac, chip: "BK7231N", topic, model: "zmai-90", site: "plant-1" }),
    }));
  } catch (e) {
    unit.end(true);
    throw e;
  }
  return { unit, urls };
}
