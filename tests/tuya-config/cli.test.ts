import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { withTempDir } from "../helpers/tmp.ts";
import { bl0937Plug, dumpWith, tuyaMcuMeter9600 } from "./devices.ts";

async function agent(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../edge-agent/main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("inspect-backup CLI: text and --json for a plug and a TuyaMCU meter, a clear error for junk", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/plug.bin`, dumpWith("bk7231n", "c8:47:8c:00:02:01", { entries: bl0937Plug }));
    await Deno.writeFile(`${dir}/mcu.bin`, dumpWith("bk7231n", "c8:47:8c:00:02:02", { entries: tuyaMcuMeter9600 }));
    await Deno.writeFile(`${dir}/none.bin`, dumpWith("bk7231t", "c8:47:8c:00:02:03", null));
    await Deno.writeFile(`${dir}/junk.bin`, new Uint8Array(0x200000).map((_, i) => (i * 7919) & 0xff));

    const text = await agent("inspect-backup", `${dir}/plug.bin`);
    assertEquals(text.code, 0, text.stderr);
    assertStringIncludes(text.stdout, "product key keyjup78v54myhan");
    assertStringIncludes(text.stdout, "P26  relay 1");
    assertStringIncludes(text.stdout, "startDriver BL0937");
    assertStringIncludes(text.stdout, "Wi-Fi SSID: present");
    assert(!text.stdout.includes("house-net") && !text.stdout.includes("hunter2"));

    const json = await agent("inspect-backup", `${dir}/mcu.bin`, "--json");
    assertEquals(json.code, 0, json.stderr);
    const r = JSON.parse(json.stdout);
    assertEquals([r.tuyaMcu.baud, r.versions.mcu, r.productKey], [9600, "1.0.2", "mcu9600meterpk01"]);
    assertStringIncludes(r.proposal.autoexec, "linkTuyaMCUOutputToChannel 20 val");

    const none = await agent("inspect-backup", `${dir}/none.bin`);
    assertEquals([none.code, none.stdout.trim()], [0, `${dir}/none.bin: no Tuya config found`]);

    const junk = await agent("inspect-backup", `${dir}/junk.bin`);
    assertEquals(junk.code, 1);
    assertStringIncludes(junk.stderr, "not_bk7231");
  });
});
