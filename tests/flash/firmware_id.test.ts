// What an image is, for the record: the embedded OpenBeken build string first, then the RBL header, then
// the file name; never the host path the image had.
import { assertEquals } from "@std/assert";
import { firmwareLabel, identifyFirmware } from "../../shared/firmware-id.ts";
import { buildFakeRbl } from "../../edge-agent/sim/obk-image.ts";
import { fakeObkImage } from "./helpers.ts";

Deno.test("firmware identity: embedded build string beats the file name; a padded day parses", () => {
  const image = fakeObkImage(0x30000);
  // the literal src/mqtt/new_mqtt.c builds: "Open" PLATFORM_MCU_NAME " " USER_SW_VER " " __DATE__ " " __TIME__
  image.set(new TextEncoder().encode("OpenBK7231N 1.18.301_powerMetering Jul  4 2026 10:41:55\0"), 0x1fff0);
  const id = identifyFirmware(image, "/home/ana/Downloads/whatever.bin");
  assertEquals([id.chip, id.version, id.source, id.fileName], [
    "BK7231N",
    "1.18.301_powerMetering",
    "embedded",
    "whatever.bin",
  ]);
  assertEquals(firmwareLabel(id), "OpenBeken 1.18.301_powerMetering (BK7231N)");
});

Deno.test("firmware identity: RBL header version, then the release name, then unknown by base name", () => {
  const rbl = buildFakeRbl({ chip: "BK7231N", version: "1.18.300" });
  assertEquals(identifyFirmware(rbl, "/tmp/x/OpenBK7231N_1.18.300.rbl").source, "rbl");
  assertEquals(identifyFirmware(rbl, "/tmp/x/OpenBK7231N_1.18.300.rbl").version, "1.18.300");
  const byName = identifyFirmware(fakeObkImage(4096), "/srv/fw/OpenBK7231T_UA_1.18.299.bin");
  assertEquals(firmwareLabel(byName), "OpenBeken 1.18.299 (BK7231T)");
  assertEquals(byName.source, "name");
  const unknown = identifyFirmware(fakeObkImage(4096), "/home/ana/custom.bin");
  assertEquals(firmwareLabel(unknown), "unknown image custom.bin");
});
