import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { type BackupInspection, inspectBackup, parseUserParamKey } from "../../shared/tuya-config/mod.ts";
import { CodecError } from "../../shared/errors.ts";
import { generateStockImage } from "../../edge-agent/sim/bk7231.ts";
import { damagePage, encodeStore, schemaJson } from "./encoder.ts";
import { bl0937Plug, dumpWith, spm02, STORE_AT, tuyaMcuBreaker115200, tuyaMcuMeter9600, zmai90 } from "./devices.ts";

function found(dump: Uint8Array): BackupInspection {
  const r = inspectBackup(dump);
  if (!r.found) throw new Error(`no store: ${r.reason}`);
  return r;
}

const pinsBy = (r: BackupInspection) => Object.fromEntries(r.pins.map((p) => [p.gpio, p]));

Deno.test("BL0937 plug: pins with meaning and level, keys, versions, the schema, Wi-Fi only as present", () => {
  const r = found(dumpWith("bk7231n", "c8:47:8c:00:00:11", { entries: bl0937Plug }));
  assertEquals(r.storeOffset, STORE_AT);
  assertEquals(r.complete, true, r.problems.join("; "));
  assertEquals(r.chip, "bk7231n");
  assertEquals(r.module, "CB2S");
  assertEquals(r.productKey, "keyjup78v54myhan");
  assertEquals(r.firmwareKey, "keyjup78v54myhan");
  assertEquals(r.versions.wifi, "1.1.12");
  assertEquals(r.versions.mcu, undefined);
  const pins = pinsBy(r);
  assertEquals(Object.keys(pins).map(Number), [6, 7, 8, 10, 24, 26]);
  assertEquals([pins[26].fn, pins[26].activeLevel, pins[26].obkRole, pins[26].channel], ["relay", "high", "Rel", 1]);
  assertEquals([pins[10].fn, pins[10].activeLevel, pins[10].obkRole], ["button", "low", "Btn"]);
  assertEquals([pins[8].fn, pins[8].obkRole], ["wifi-led", "WifiLED_n"]);
  assertEquals([pins[7].obkRole, pins[6].obkRole, pins[24].obkRole], ["BL0937CF", "BL0937CF1", "BL0937SEL"]);
  assertEquals(r.tuyaMcu, undefined);
  assertEquals(r.schemaId, "000004w0oh");
  assertEquals(r.schema.map((d) => d.id), [1, 9, 17, 18, 19, 20]);
  assertEquals(r.schema.find((d) => d.id === 18), {
    id: 18,
    mode: "ro",
    type: "value",
    scale: 0,
    min: 0,
    max: 30000,
    step: 1,
    unit: "mA",
  });
  assertEquals(r.settings.over_cur, "17000");
  assertEquals(r.wifi, { ssid: "present" });
  const all = JSON.stringify(r);
  assert(!all.includes("hunter2") && !all.includes("house-net"), "the Wi-Fi SSID and password never leave the decoder");
});

Deno.test("TuyaMCU meter at 9600: baud from baud_cfg, MCU version, product key apart from firmware key", () => {
  const r = found(dumpWith("bk7231n", "c8:47:8c:00:00:12", { entries: tuyaMcuMeter9600 }));
  assertEquals(r.tuyaMcu?.baud, 9600);
  assertEquals(r.productKey, "mcu9600meterpk01");
  assertEquals(r.firmwareKey, "keyrandomfirmk01");
  assertEquals(r.versions, {
    wifi: "1.3.5",
    mcu: "1.0.2",
    baseline: "40.00",
    protocol: "2.2",
    lanProtocol: "3.3",
    channels: [],
  });
  assertEquals(r.pins, []);
  assertEquals(r.wifi, { ssid: "absent" });
  assertEquals(r.schema.find((d) => d.id === 6)?.type, "raw");
  assertEquals(r.schema.find((d) => d.id === 20)?.scale, 1);
});

Deno.test("TuyaMCU breaker at 115200: the schema gw_di names wins over a stale second one", () => {
  const r = found(dumpWith("bk7231t", "c8:47:8c:00:00:13", { entries: tuyaMcuBreaker115200 }));
  assertEquals(r.chip, "bk7231t");
  assertEquals(r.tuyaMcu?.baud, 115200);
  assertEquals(r.schemaId, "0000smr1b2");
  assertEquals(r.staleSchemaIds, ["0000smr1a1"]);
  assertEquals(r.schema.map((d) => d.id), [1, 6, 9, 11, 16, 101]);
  assertEquals(r.versions.mcu, "2.1.0");
});

Deno.test("ZMAi-90: latching relay coils, RN8209C's UART1 settings (4800 8E1), not TuyaMCU", () => {
  const r = found(dumpWith("bk7231n", "c8:47:8c:00:00:14", { entries: zmai90 }));
  assertEquals(r.tuyaMcu, undefined);
  assertEquals(r.uart, { baud: 4800, parity: "even", dataBits: 8, stopBits: 1, source: "user_param_key" });
  const pins = pinsBy(r);
  assertEquals([pins[14].obkRole, pins[16].obkRole], ["BridgeFWD", "BridgeREV"]);
  assertEquals([pins[26].obkRole, pins[6].obkRole, pins[7].obkRole], ["LED", "WifiLED_n", "Btn"]);
  assertEquals(r.notes.some((n) => n.includes("schema")), false);
});

Deno.test("the newer data magic (0x135726AB) and values spread over non-contiguous pages of several blocks", () => {
  const plain = found(dumpWith("bk7231n", "c8:47:8c:00:00:15", { entries: spm02 }));
  const scattered = encodeStore({ entries: spm02, scatter: true, magic: "new" });
  const schemaPages = scattered.pagesOf.get("000spm02v2")!;
  assert(new Set(schemaPages.map((p) => p.sector)).size > 1, "the schema really spans blocks");
  const image = generateStockImage("bk7231n", "c8:47:8c:00:00:15");
  image.set(scattered.bytes, STORE_AT);
  const r = found(image);
  assertEquals(r.complete, true, r.problems.join("; "));
  assertEquals(r.schema, plain.schema);
  assertEquals(r.productKey, "spm02v2meterpk01");
});

Deno.test("found by searching: a dump starting at 0x11000, a store-only dump, a dump cut at an odd offset", () => {
  const full = dumpWith("bk7231n", "c8:47:8c:00:00:16", { entries: bl0937Plug });
  const fromApp = found(full.slice(0x11000));
  assertEquals(fromApp.storeOffset, STORE_AT - 0x11000);
  assertEquals(fromApp.productKey, "keyjup78v54myhan");
  const storeOnly = found(full.slice(STORE_AT, STORE_AT + 0x12000));
  assertEquals([storeOnly.storeOffset, storeOnly.pins.length, storeOnly.complete], [0, 6, true]);
  const odd = new Uint8Array(0x12000 + 100).fill(0xff);
  odd.set(full.subarray(STORE_AT, STORE_AT + 0x12000), 100);
  const oddR = found(odd);
  assertEquals([oddR.storeOffset, oddR.productKey], [100, "keyjup78v54myhan"]);
});

Deno.test("a damaged page: what checks out is kept, the damaged value is reported and not used", () => {
  const store = encodeStore({ entries: bl0937Plug });
  const schemaPage = store.pagesOf.get("000004w0oh")![0];
  damagePage(store.bytes, schemaPage.sector, schemaPage.page);
  const image = generateStockImage("bk7231n", "c8:47:8c:00:00:17");
  image.set(store.bytes, STORE_AT);
  const r = found(image);
  assertEquals(r.complete, false);
  assert(r.problems.some((p) => p.includes("fails its checksum") && p.includes("block")), r.problems.join("; "));
  assert(r.problems.some((p) => p.includes("'000004w0oh'")), r.problems.join("; "));
  assertEquals(r.schema, []);
  // the rest of the store still reads
  assertEquals(r.productKey, "keyjup78v54myhan");
  assertEquals(r.pins.length, 6);
});

Deno.test("a checksum-bad entry is named and its value dropped; its neighbours are kept", () => {
  const entries = bl0937Plug.map((e) => (e.name === "gw_di" ? { ...e, badChecksum: true } : e));
  const r = found(dumpWith("bk7231n", "c8:47:8c:00:00:18", { entries }));
  assertEquals(r.complete, false);
  assert(r.problems.some((p) => p.includes("'gw_di' fails its checksum")), r.problems.join("; "));
  assertEquals(r.productKey, undefined);
  assertEquals(r.versions.wifi, undefined);
  assertEquals(r.module, "CB2S");
});

Deno.test("a repeated block id keeps the higher generation, wherever the stale copy sits", () => {
  const stale = [{ name: "user_param_key", value: "{module:OLD1,rl1_pin:9,}" }];
  const r = found(
    dumpWith("bk7231n", "c8:47:8c:00:00:19", { entries: bl0937Plug, staleCopy: { blockId: 0, entries: stale } }),
  );
  assertEquals(r.module, "CB2S");
  assertEquals(r.pins.find((p) => p.fn === "relay")?.gpio, 26);
  assertEquals(r.complete, true, r.problems.join("; "));
});

Deno.test("a dump without a store answers 'no Tuya config found'", () => {
  assertEquals(inspectBackup(generateStockImage("bk7231t", "c8:47:8c:00:00:20")), {
    found: false,
    reason: "no Tuya config found",
  });
});

Deno.test("bad input: short, truncated, random, another chip family — a CodecError each, nothing partial as complete", () => {
  const code = (d: Uint8Array) => {
    try {
      inspectBackup(d);
      return "no error";
    } catch (e) {
      assert(e instanceof CodecError, String(e));
      return e.code;
    }
  };
  assertEquals(code(new Uint8Array(100)), "dump_too_short");
  const plain = generateStockImage("bk7231n", "c8:47:8c:00:00:21");
  assertEquals(code(plain.slice(0, 0x100000)), "dump_truncated");
  assertEquals(code(plain.slice(0, 0x100123)), "dump_truncated");
  let x = 1;
  const random = new Uint8Array(0x200000).map(() => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
  assertEquals(code(random), "not_bk7231");
  const esp = random.slice();
  esp[0] = 0xe9; // an ESP image header, no BK bootloader, no RF sector
  assertEquals(code(esp), "not_bk7231");
  // a Tuya store written with another family's base key (RTL8720D's "8721D"): the key opens, the blocks do not
  const rtl = random.slice();
  rtl.set(encodeStore({ entries: bl0937Plug, baseKey: "8721D" }).bytes, 0x1f0000 - 0x12000);
  assertEquals(code(rtl), "store_unreadable");
  // a store cut short: a result, but never complete
  const cut = found(dumpWith("bk7231n", "c8:47:8c:00:00:22", { entries: bl0937Plug }).slice(0, STORE_AT + 0x3000));
  assertEquals(cut.complete, false);
  assertStringIncludes(cut.problems.join(" "), "ends inside the store");
});

Deno.test("user_param_key pseudo-JSON: bare tokens, trailing comma, nesting, quotes, colons in values", () => {
  assertEquals(parseUserParamKey('{Jsonver:1.1.8,module:CB2S,t:10:30,l:[1,2],o:{a:b},"q":"x,y",crc:101,}'), {
    Jsonver: "1.1.8",
    module: "CB2S",
    t: "10:30",
    l: ["1", "2"],
    o: { a: "b" },
    q: "x,y",
    crc: "101",
  });
  assertThrows(() => parseUserParamKey("module:CB2S"), CodecError);
  assertThrows(() => parseUserParamKey("{module:CB2S"), CodecError);
});

Deno.test("schema JSON from the encoder round-trips types the decoder names", () => {
  const j = JSON.parse(schemaJson([{ id: 5, mode: "ro", type: "bitmap" }]));
  assertEquals(j[0].property.type, "bitmap");
});
