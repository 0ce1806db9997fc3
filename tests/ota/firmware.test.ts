import { assert, assertEquals } from "@std/assert";
import { buildFakeRbl, buildFakeUartImage } from "../../edge-agent/sim/obk-image.ts";
import { listFirmware, MAX_FIRMWARE_BYTES } from "../../server/firmware/store.ts";
import { listAudit } from "../../server/kv/audit.ts";
import { startOtaServer } from "./fleet.ts";

const post = (path: string, body: BodyInit, type = "application/octet-stream") => ({
  path,
  init: { method: "POST", headers: { "content-type": type }, body } as RequestInit,
});

async function blobCount(kv: Deno.Kv) {
  let n = 0;
  for await (const _ of kv.list({ prefix: ["blob_meta"] })) n++;
  return n;
}

Deno.test("firmware upload: a corrupt RBL is refused and nothing is stored; a good one is stored once and served over plain HTTP", async () => {
  const srv = await startOtaServer();
  try {
    const good = buildFakeRbl({ chip: "BK7231N", version: "1.18.300", size: 200_000 });
    const corrupt = good.slice();
    corrupt[5000] ^= 0x40; // one flipped bit in the package
    for (
      const [name, bytes, code] of [
        ["OpenBK7231N_1.18.300.rbl", corrupt, "rbl_package_crc"],
        ["OpenBK7231N_1.18.300.rbl", good.subarray(0, 100_000), "rbl_size"],
        ["OpenBK7231N_1.18.300.rbl", new TextEncoder().encode("<html>404</html>"), "unknown_kind"],
        [
          "OpenBK7231T_UG_1.18.300.bin",
          buildFakeUartImage({ chip: "BK7231T", version: "1.18.300", kind: "UA" }).bytes,
          "tuya_ug",
        ],
        ["OpenBL602_1.18.300.rbl", buildFakeRbl({ chip: "BL602", version: "1.18.300" }), "platform"],
      ] as const
    ) {
      const { path, init } = post(`/api/firmware?filename=${name}`, bytes as Uint8Array<ArrayBuffer>);
      const res = await srv.api(path, init);
      const body = await res.json();
      assertEquals([res.status, body.code], [422, code], name);
    }
    assertEquals(await listFirmware(srv.kv), []);
    assertEquals(await blobCount(srv.kv), 0);

    // oversize: refused before buffering, 413
    const big = post("/api/firmware?filename=OpenBK7231N_9.9.9.rbl", new Uint8Array(MAX_FIRMWARE_BYTES + 100_000));
    const resBig = await srv.api(big.path, big.init);
    assertEquals(resBig.status, 413);
    await resBig.body?.cancel();
    const noName = await srv.api("/api/firmware", post("", good as Uint8Array<ArrayBuffer>).init);
    assertEquals(noName.status, 400);
    await noName.body?.cancel();

    // multipart, as the page's form sends it
    const form = new FormData();
    form.set("file", new File([good as Uint8Array<ArrayBuffer>], "OpenBK7231N_1.18.300.rbl"));
    form.set("notes", "release");
    const ok = await srv.api("/api/firmware", { method: "POST", body: form });
    const fw = await ok.json();
    assertEquals(ok.status, 201);
    assertEquals([fw.kind, fw.platform, fw.version, fw.otaAllowed, fw.rbl.version], [
      "rbl",
      "BK7231N",
      "1.18.300",
      true,
      "1.18.300",
    ]);
    const again = await srv.api(
      "/api/firmware?filename=OpenBK7231N_1.18.300.rbl",
      post("", good as Uint8Array<ArrayBuffer>).init,
    );
    assertEquals([again.status, (await again.json()).id], [200, fw.id]);
    assertEquals(await blobCount(srv.kv), 1);
    const dl = await srv.api(`/fw/${fw.sha256}/OpenBK7231N_1.18.300.rbl`);
    assertEquals(new Uint8Array(await dl.arrayBuffer()), good);
    assert((await listAudit(srv.kv, { target: `firmware:${fw.id}` })).some((a) => a.action === "firmware.upload"));

    // a UART image is kept for the bench, but a rollout with it is refused
    const ua = buildFakeUartImage({ chip: "BK7231N", version: "1.18.300", kind: "QIO" });
    const uaRes = await srv.api(
      `/api/firmware?filename=${ua.name}`,
      post("", ua.bytes as Uint8Array<ArrayBuffer>).init,
    );
    const uaFw = await uaRes.json();
    assertEquals([uaRes.status, uaFw.kind, uaFw.otaAllowed], [201, "uart_qio", false]);
    const ro = await srv.api(
      "/api/rollouts",
      post("", JSON.stringify({ name: "x", firmwareId: uaFw.id }), "application/json").init,
    );
    const roBody = await ro.json();
    assertEquals(ro.status, 400);
    assert(/only RBL packages/.test(roBody.error), roBody.error);
    // invalid rollout bodies
    for (
      const body of [
        "{nope",
        JSON.stringify({ name: "x", firmwareId: fw.id, groups: [{ name: "a", percent: 50 }] }),
        JSON.stringify({ name: "x", firmwareId: fw.id, baseUrl: "https://x" }),
      ]
    ) {
      const r = await srv.api("/api/rollouts", post("", body, "application/json").init);
      assertEquals(r.status, 400, body);
      await r.body?.cancel();
    }
    // a BK7231T image never targets BK7231N units: no unit matches
    await (await srv.api(
      "/api/units",
      post("", JSON.stringify({ mac: "c8:47:8c:00:00:01", chip: "BK7231N", topic: "n1" }), "application/json").init,
    )).body?.cancel();
    const tFw = await (await srv.api(
      "/api/firmware?filename=OpenBK7231T_1.18.300.rbl",
      post("", buildFakeRbl({ chip: "BK7231T", version: "1.18.300" }) as Uint8Array<ArrayBuffer>).init,
    )).json();
    const wrong = await srv.api(
      "/api/rollouts",
      post("", JSON.stringify({ name: "x", firmwareId: tFw.id }), "application/json").init,
    );
    assertEquals(wrong.status, 400);
    assert(/no unit matches/.test((await wrong.json()).error));
  } finally {
    await srv.close();
  }
});
