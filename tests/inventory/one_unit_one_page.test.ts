/**
 * One device, one story: an OpenBeken unit known to inventory only by its MAC (flashed on the bench,
 * `u-c8478c100001`) speaks on MQTT as `obk8C100001`. Inventory, its unit page (cards and table), the live
 * meter page and the energy page show the same presence (online, version, uptime, last seen, IP), and link
 * to each other. Before: /units said "–"/"never seen", the unit page's table "– / –".
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createUnit } from "../../server/inventory/units.ts";
import { getUnitPresence } from "../../server/openbeken/presence.ts";
import { ObkUnit } from "../energy/obk_unit.ts";
import { waitFor } from "../helpers/net.ts";
import { startTestServer } from "../helpers/server.ts";

const MAC = "c8:47:8c:10:00:01";
const TOPIC = "obk8C100001";

/** text of every element carrying `attr` in the HTML, in order */
const attrTexts = (html: string, attr: string) =>
  [...html.matchAll(new RegExp(`<[a-z]+[^>]*\\b${attr}\\b[^>]*>([^<]*)<`, "g"))].map((m) => m[1].trim());

Deno.test("one unit, one page: presence the same on /units, the unit page, meter and energy pages; ids linked by MAC", async () => {
  const srv = await startTestServer();
  const unit = await createUnit(srv.kv, { mac: MAC, model: "zmai-90" }, { by: "test" });
  const obk = await ObkUnit.connect(srv, TOPIC);
  try {
    await obk.item("mac", MAC);
    await obk.item("build", "OpenBK7231N 1.18.299 Jul 24 2026 10:41:55");
    await obk.item("ip", "192.168.1.77");
    await obk.item("uptime", "3700");
    await obk.value("power", "61.5");
    await waitFor(async () => {
      const p = await getUnitPresence(srv.kv, TOPIC);
      return p?.mac === MAC && p.version && p.ip && p.uptimeS !== null;
    }, { what: "presence with MAC, version, ip, uptime" });

    const list = await (await srv.api("/units")).text();
    const row = list.split(`data-unit="${unit.id}"`)[1].split("</tr>")[0];
    assertEquals(attrTexts(row, "data-presence-status"), ["online"]);
    assertEquals(attrTexts(row, "data-presence-version"), ["1.18.299"]);
    assert(!row.includes("never"), row);
    assertStringIncludes(row, "192.168.1.77");
    assertStringIncludes(row, `/meters/${TOPIC}`);

    const page = await (await srv.api(`/units/${unit.id}`)).text();
    // cards and table agree (the table used to say "– / –")
    assertEquals(attrTexts(page, "data-presence-status"), ["online"]);
    assertEquals(attrTexts(page, "data-presence-version"), ["1.18.299"]);
    assertStringIncludes(page, "1.18.299 / –"); // running / assigned
    assertStringIncludes(page, "192.168.1.77 / 1 h 1");
    assertStringIncludes(page, `href="/meters/${TOPIC}"`);
    assertStringIncludes(page, `href="/energy/unit/${TOPIC}"`);

    const meter = await (await srv.api(`/meters/${TOPIC}`)).text();
    assertStringIncludes(meter, `href="/units/${unit.id}"`);
    assertStringIncludes(meter, `href="/energy/unit/${TOPIC}"`);
    assertEquals(attrTexts(meter, "data-presence-status"), ["online"]);
    assertEquals(attrTexts(meter, "data-presence-version"), ["1.18.299"]);

    const energy = await (await srv.api(`/energy/unit/${TOPIC}`)).text();
    assertStringIncludes(energy, `href="/units/${unit.id}"`);
    assertStringIncludes(energy, `href="/meters/${TOPIC}"`);
    assertEquals(attrTexts(energy, "data-presence-version"), ["1.18.299"]);

    // last seen follows the unit while it keeps talking (it froze after an OTA)
    const seen = (html: string) => attrTexts(html, "data-presence-seen")[0];
    const before = seen(page);
    await new Promise((r) => setTimeout(r, 1100));
    await obk.value("power", "62.0");
    await waitFor(async () => {
      const now = seen(await (await srv.api(`/units/${unit.id}`)).text());
      return now !== before;
    }, {
      what: "last seen moves",
    });
  } finally {
    await obk.close();
    await srv.close();
  }
});
