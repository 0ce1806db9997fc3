// Vectors from ../shared/reference/bk7231-bootloader.md (§2.4, §2.5, §3.4, §3.5, §6).
import { assertEquals, assertThrows } from "@std/assert";
import {
  BOOT_FINGERPRINTS,
  crc32Jam,
  crc32JamOfFF,
  crc32Zlib,
  crcEnd,
  ERASE,
  expect,
  flashSizeFromMid,
  macFromTlvSector,
  parse,
  req,
  scanResponse,
  statusRegisterSize,
} from "../../shared/bk7231/mod.ts";
import { CodecError } from "../../shared/errors.ts";

const hex = (s: string) => new Uint8Array(s.trim().split(/\s+/).map((h) => parseInt(h, 16)));
const show = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(" ");
const eqHex = (got: Uint8Array, want: string) => assertEquals(show(got), show(hex(want)));

Deno.test("codec: short request vectors", () => {
  eqHex(req.linkCheck(), "01 E0 FC 01 00");
  eqHex(req.setBaudRate(921600, 20), "01 E0 FC 06 0F 00 10 0E 00 14");
  eqHex(req.setBaudRate(921600, 15), "01 E0 FC 06 0F 00 10 0E 00 0F"); // bkWriter capture
  eqHex(req.setBaudRate(1_500_000, 20).subarray(5, 9), "60 E3 16 00");
  eqHex(req.setBaudRate(2_000_000, 20).subarray(5, 9), "80 84 1E 00");
  eqHex(req.readReg(0x800000), "01 E0 FC 05 03 00 00 80 00");
  eqHex(req.writeReg(0x800074, 0x11223344), "01 E0 FC 09 01 74 00 80 00 44 33 22 11");
  eqHex(req.checkCrc(0x11000, 0x11fff), "01 E0 FC 09 10 00 10 01 00 FF 1F 01 00");
  eqHex(req.readBootVersion(), "01 E0 FC 01 11");
  eqHex(req.reboot(), "01 E0 FC 02 0E A5");
  eqHex(req.stayRom(), "01 E0 FC 02 AA 55");
  eqHex(req.resetSean(), "01 E0 FC 05 70 53 45 41 4E");
  eqHex(req.resetOld(), "01 E0 FC 05 FE 95 27 95 27");
});

Deno.test("codec: long request vectors", () => {
  eqHex(req.flashRead4K(0x11000), "01 E0 FC FF F4 05 00 09 00 10 01 00");
  eqHex(req.flashErase(ERASE.Sector4K, 0x11000), "01 E0 FC FF F4 06 00 0F 20 00 10 01 00");
  eqHex(req.flashErase(ERASE.Block64K, 0x20000), "01 E0 FC FF F4 06 00 0F D8 00 00 02 00");
  eqHex(req.flashErase(ERASE.Sector4K, 0x212000), "01 E0 FC FF F4 06 00 0F 20 00 20 21 00"); // ltchiptool#9: next erase after 0x211000
  eqHex(req.flashErase4K(0x11000), "01 E0 FC FF F4 05 00 0B 00 10 01 00");
  eqHex(req.flashGetMID(), "01 E0 FC FF F4 05 00 0E 9F 00 00 00");
  eqHex(req.flashReadSR(0x05), "01 E0 FC FF F4 02 00 0C 05");
  eqHex(req.flashReadSR(0x35), "01 E0 FC FF F4 02 00 0C 35");
  eqHex(req.flashWriteSR(0x40, 1), "01 E0 FC FF F4 03 00 0D 01 40");
  eqHex(req.flashWriteSR(0x4004, 2), "01 E0 FC FF F4 04 00 0D 01 04 40");
  const data = new Uint8Array(4096).fill(0xab);
  const w = req.flashWrite4K(0x11000, data);
  assertEquals(w.length, 4108);
  eqHex(w.subarray(0, 12), "01 E0 FC FF F4 05 10 07 00 10 01 00");
  const w256 = req.flashWrite(0x11000, new Uint8Array(256));
  eqHex(w256.subarray(0, 12), "01 E0 FC FF F4 05 01 06 00 10 01 00");
  eqHex(req.flashRead(0x1000, 0x100), "01 E0 FC FF F4 07 00 08 00 10 00 00 00 01");
  eqHex(req.flashEraseAll(), "01 E0 FC FF F4 02 00 0A 04");
  assertThrows(() => req.flashWrite4K(0, new Uint8Array(10)), CodecError);
  assertThrows(() => req.flashWrite(0, new Uint8Array(257)), CodecError);
});

Deno.test("codec: CRC-32/JAMCRC worked examples", () => {
  const ascii = new TextEncoder().encode("123456789");
  assertEquals(crc32Zlib(ascii), 0xcbf43926);
  assertEquals(crc32Jam(ascii), 0x340bc6d9);
  assertEquals(crc32Jam(new Uint8Array(4096).fill(0xff)), 0x0eab98f5);
  assertEquals(crc32JamOfFF(4096), 0x0eab98f5);
  assertEquals(crc32JamOfFF(300_000), crc32Jam(new Uint8Array(300_000).fill(0xff)));
  assertEquals(crc32Jam(new Uint8Array(256).fill(0xff)), 0x015757de);
  assertEquals(crc32Jam(new Uint8Array(256).map((_, i) => i)), 0xd6fa738c);
  assertEquals(crc32Jam(new Uint8Array(0)), 0xffffffff);
  // chaining
  assertEquals(crc32Jam(ascii.subarray(4), crc32Jam(ascii.subarray(0, 4))), 0x340bc6d9);
});

Deno.test("codec: response vectors parse", () => {
  const s = (wire: string, e = expect.linkCheck) => {
    const r = scanResponse(hex(wire), e);
    if (!r.found) throw new Error("not found: " + wire);
    assertEquals(r.rest.length, 0);
    return r.frame;
  };
  parse.linkCheck(s("04 0E 05 01 E0 FC 01 00"));
  parse.setBaudRate(s("04 0E 09 01 E0 FC 0F 00 10 0E 00 14", expect.setBaudRate), 921600, 20);
  assertEquals(parse.readReg(s("04 0E 0C 01 E0 FC 03 00 00 80 00 1C 23 07 00", expect.readReg), 0x800000), 0x7231c);
  assertEquals(parse.checkCrc(s("04 0E 08 01 E0 FC 10 F5 98 AB 0E", expect.checkCrc)), 0x0eab98f5);
  assertEquals(parse.checkCrc(s("04 0E 08 01 E0 FC 10 47 3E AB 45", expect.checkCrc)), 0x45ab3e47);
  parse.flashWrite4K(s("04 0E FF 01 E0 FC F4 06 00 07 00 00 10 01 00", expect.flashWrite4K), 0x11000);
  parse.flashWrite4K(s("04 0E FF 01 E0 FC F4 06 00 07 00 00 10 21 00", expect.flashWrite4K), 0x211000);
  parse.flashWrite(s("04 0E FF 01 E0 FC F4 07 00 06 00 00 10 01 00 80", expect.flashWrite), 0x11000, 128);
  parse.flashErase(s("04 0E FF 01 E0 FC F4 07 00 0F 00 20 00 10 01 00", expect.flashErase), 0x20, 0x11000);
  parse.flashErase(s("04 0E FF 01 E0 FC F4 07 00 0F 00 D8 00 00 02 00", expect.flashErase), 0xd8, 0x20000);
  parse.flashErase4K(s("04 0E FF 01 E0 FC F4 06 00 0B 00 00 10 01 00", expect.flashErase4K), 0x11000);
  assertEquals(parse.flashGetMID(s("04 0E FF 01 E0 FC F4 06 00 0E 00 00 EB 60 15", expect.flashGetMID)), 0x1560eb);
  assertEquals(parse.flashGetMID(s("04 0E FF 01 E0 FC F4 05 00 0E 00 1C 70 15", expect.flashGetMID)), 0x15701c);
  assertEquals(parse.flashReadSR(s("04 0E FF 01 E0 FC F4 04 00 0C 00 05 5C", expect.flashReadSR), 0x05), 0x5c);
  assertEquals(parse.flashWriteSR(s("04 0E FF 01 E0 FC F4 04 00 0D 00 01 40", expect.flashWriteSR), 0x40, 1), 0x40);
  assertEquals(parse.flashWriteSR(s("04 0E FF 01 E0 FC F4 05 00 0D 00 01 00 00", expect.flashWriteSR), 0, 2), 0);
  assertEquals(s("04 0E 05 01 E0 FC AA 55", expect.stayRom).payload[0], 0x55);
  const ver = new TextEncoder().encode("BK7231S_1.0.5\0\0\0");
  const verFrame = new Uint8Array([0x04, 0x0e, 4 + ver.length, 0x01, 0xe0, 0xfc, 0x11, ...ver]);
  const r = scanResponse(verFrame, expect.readBootVersion);
  assertEquals(r.found && parse.readBootVersion(r.frame), "BK7231S_1.0.5");
  const noVer = scanResponse(hex("04 0E 05 01 E0 FC 11 07"), expect.readBootVersion);
  assertEquals(noVer.found && parse.readBootVersion(noVer.frame), null);
});

Deno.test("codec: read-4K response header (BK7231GUIFlashTool#19, alias 0x200000)", () => {
  const head = hex("04 0E FF 01 E0 FC F4 06 10 09 00 00 00 20 00");
  const data = new Uint8Array(4096).fill(0x69);
  const buf = new Uint8Array(head.length + data.length);
  buf.set(head);
  buf.set(data, head.length);
  assertEquals(buf.length, 4111);
  // incomplete: scanner asks for more and keeps the partial frame
  const partial = scanResponse(buf.subarray(0, 2000), expect.flashRead4K);
  assertEquals(partial.found, false);
  assertEquals(!partial.found && partial.keep.length, 2000);
  const r = scanResponse(buf, expect.flashRead4K);
  if (!r.found) throw new Error("not found");
  assertEquals(parse.flashRead4K(r.frame, 0x200000), data);
  assertThrows(() => parse.flashRead4K(r.frame, 0x0), CodecError); // echo check
});

Deno.test("codec: scanner skips noise, stray link replies and unexpected frames", () => {
  const stray = "04 0E 05 01 E0 FC 01 00"; // extra link reply before the baud echo (hid_download_py#3)
  const noise = "D4 9E 9E 9E 04 04 0E 02 FF";
  const echo = "04 0E 09 01 E0 FC 0F 00 10 0E 00 14";
  const r = scanResponse(hex(`${noise} ${stray} ${echo} 01 02`), expect.setBaudRate);
  if (!r.found) throw new Error("not found");
  parse.setBaudRate(r.frame, 921600, 20);
  assertEquals(show(r.rest), "01 02");
  assertEquals(r.skipped, 9 + 8);
  // WriteReg reply shares code 0x01 with the link reply: the length tells them apart
  const w = scanResponse(hex(`${stray} 04 0E 0C 01 E0 FC 01 74 00 80 00 01 00 00 00`), expect.writeReg);
  if (!w.found) throw new Error("not found");
  parse.writeReg(w.frame, 0x800074, 1);
  // a trailing 04 is kept as a possible frame start
  const k = scanResponse(hex("00 11 04"), expect.linkCheck);
  assertEquals(!k.found && show(k.keep), "04");
});

Deno.test("codec: non-zero status and bad lengths are CodecErrors", () => {
  const refused = scanResponse(hex("04 0E FF 01 E0 FC F4 03 00 09 06 00"), expect.flashRead4K);
  if (!refused.found) throw new Error("status frame should be returned");
  const e = assertThrows(() => parse.flashRead4K(refused.frame, 0), CodecError);
  assertEquals(e.code, "BK_STATUS");
  const bad = scanResponse(hex("04 0E 06 01 E0 FC 10 01 02"), { code: 0x10, long: false });
  if (!bad.found) throw new Error("not found");
  assertEquals(assertThrows(() => parse.checkCrc(bad.frame), CodecError).code, "BK_LENGTH");
});

Deno.test("codec: chip data — fingerprints, CRC end convention, SR sizes, MAC", () => {
  assertEquals(BOOT_FINGERPRINTS[0x1ebe6e45].chip, "bk7231n");
  assertEquals(BOOT_FINGERPRINTS[0x45ab3e47].protocol, "BASIC_TUYA");
  assertEquals(crcEnd("FULL", 0x12000), 0x11fff);
  assertEquals(crcEnd("BASIC_TUYA", 0x12000), 0x12000);
  assertEquals(statusRegisterSize(0x1560eb), 2); // TH25Q16HB
  assertEquals(statusRegisterSize(0x15701c), 1); // EN25QH16B
  assertEquals(statusRegisterSize(0x123456), undefined);
  assertEquals(flashSizeFromMid(0x1560eb), 0x200000);
  const tlv = new Uint8Array(4096).fill(0xff);
  tlv.set([0x02, 0x11, 0x11, 0x11, 0x06, 0, 0, 0, 0xc8, 0x47, 0x8c, 0x11, 0x22, 0x33], 0x1c);
  assertEquals(macFromTlvSector(tlv), "c8:47:8c:11:22:33");
  assertEquals(macFromTlvSector(new Uint8Array(4096).fill(0xff)), null);
});
