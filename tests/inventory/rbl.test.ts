import { assertEquals, assertThrows } from "@std/assert";
import { classifyArtefact, parseArtefactName, parseRblHeader, semverOf, verifyRbl } from "../../shared/rbl.ts";
import { CodecError } from "../../shared/errors.ts";
import { buildFakeRbl, buildFakeUartImage } from "../../edge-agent/sim/obk-image.ts";
import { crc32Zlib } from "../../shared/bk7231/crc32.ts";

Deno.test("rbl: a well-formed package parses and verifies", () => {
  const img = buildFakeRbl({ chip: "BK7231N", version: "1.18.300", size: 5000 });
  const h = verifyRbl(img);
  assertEquals(h.version, "1.18.300");
  assertEquals(h.name, "app");
  assertEquals(h.encryption, "aes256");
  assertEquals(h.compression, "gzip");
  assertEquals(h.packageSize, 5000);
  assertEquals(img.length, 96 + 5000);
});

Deno.test("rbl: header bytes pinned to the rt_ota layout (hand-built, independent of the fake builder)", () => {
  const body = new TextEncoder().encode("hello package");
  const h = new Uint8Array(96);
  const dv = new DataView(h.buffer);
  h.set([0x52, 0x42, 0x4c, 0], 0);
  h[4] = 0;
  h[5] = 0;
  dv.setUint32(8, 1_700_000_000, true);
  h.set(new TextEncoder().encode("app"), 12);
  h.set(new TextEncoder().encode("1.17.800"), 28);
  dv.setUint32(76, crc32Zlib(body), true);
  dv.setUint32(84, 13, true);
  dv.setUint32(88, 13, true);
  dv.setUint32(92, crc32Zlib(h.subarray(0, 92)), true);
  // zlib CRC-32 of "hello package" — computed once with Python's zlib.crc32
  assertEquals(crc32Zlib(body), 0x43c82060);
  const f = new Uint8Array(96 + 13);
  f.set(h);
  f.set(body, 96);
  const r = verifyRbl(f);
  assertEquals([r.version, r.timestamp, r.encryption, r.compression, r.rawSize], [
    "1.17.800",
    1_700_000_000,
    "none",
    "none",
    13,
  ]);
});

Deno.test("rbl: corrupt packages are refused with stable codes", () => {
  const good = buildFakeRbl({ chip: "BK7231N", version: "1.18.300" });
  const code = (b: Uint8Array) => {
    try {
      verifyRbl(b);
      return "ok";
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return e.code;
    }
  };
  assertEquals(code(good), "ok");
  const flipBody = good.slice();
  flipBody[500] ^= 1;
  assertEquals(code(flipBody), "rbl_package_crc");
  const flipHead = good.slice();
  flipHead[30] ^= 1;
  assertEquals(code(flipHead), "rbl_header_crc");
  assertEquals(code(good.subarray(0, good.length - 10)), "rbl_size");
  assertEquals(code(good.subarray(0, 50)), "rbl_truncated");
  const noMagic = good.slice();
  noMagic[0] = 0x58;
  assertEquals(code(noMagic), "rbl_bad_magic");
  assertThrows(() => parseRblHeader(new Uint8Array(10)), CodecError);
});

Deno.test("rbl: artefact names and UART images are recognised", () => {
  assertEquals(parseArtefactName("OpenBK7231N_1.18.299.rbl"), {
    kind: "rbl",
    platform: "BK7231N",
    version: "1.18.299",
    variant: null,
  });
  assertEquals(parseArtefactName("OpenBK7231T_1.18.299_powerMetering.rbl").variant, "powerMetering");
  assertEquals(parseArtefactName("OpenBK7231N_QIO_1.18.299.bin").kind, "uart_qio");
  assertEquals(parseArtefactName("OpenBK7231T_UA_1.18.299.bin").kind, "uart_ua");
  assertEquals(parseArtefactName("OpenBK7231T_UG_1.18.299.bin").kind, "tuya_ug");
  const ua = buildFakeUartImage({ chip: "BK7231T", version: "1.18.299", kind: "UA" });
  assertEquals(classifyArtefact(ua.name, ua.bytes).kind, "uart_ua");
  assertEquals(classifyArtefact("OpenBK7231N_1.18.299.rbl", ua.bytes).kind, "unknown"); // renamed UART image
  assertEquals(classifyArtefact("whatever.bin", buildFakeRbl({ chip: "BK7231N", version: "1.0.0" })).kind, "rbl");
  assertEquals(semverOf("1.18.299_powerMetering"), [1, 18, 299]);
  assertEquals(semverOf("main_1a2b3c4d5e6f"), null);
});
