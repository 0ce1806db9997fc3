/** /units shows a page of units at a time (the page does not grow with the fleet), with links that keep the filter. */
import { assert, assertEquals } from "@std/assert";
import { createUnit } from "../../server/inventory/units.ts";
import { startTestServer } from "../helpers/server.ts";
import { fetchAs, testSession } from "../helpers/auth.ts";

const rows = (html: string) => (html.match(/<tr[^>]*>\s*<td[^>]*>\s*<a href="\/units\/u-/g) ?? []).length;

Deno.test("/units pages 230 units 100 at a time; next/previous keep the filter", async () => {
  const srv = await startTestServer();
  try {
    for (let i = 0; i < 230; i++) {
      const mac = `c8:47:8c:01:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
      await createUnit(srv.kv, { mac, model: i % 2 ? "zmai-90" : "pziot-e01", tags: [] }, { by: "test" });
    }
    const s = await testSession(srv.kv, "viewer");
    const page = async (path: string) => await (await fetchAs(srv.url, s, path)).text();

    const first = await page("/units");
    assertEquals(rows(first), 100);
    assert(first.includes("1–100 of 230"), "the range is shown");
    assert(first.includes('href="/units?offset=100"'), "a next link");
    assertEquals(rows(await page("/units?offset=200")), 30);
    assertEquals(rows(await page("/units?offset=999")), 100, "an offset past the end shows the first page");

    const filtered = await page("/units?model=zmai-90");
    assertEquals(rows(filtered), 100);
    assert(filtered.includes("1–100 of 115"));
    assert(filtered.includes('href="/units?model=zmai-90&amp;offset=100"'), "the next link keeps the filter");
    assertEquals(rows(await page("/units?model=zmai-90&offset=100")), 15);
  } finally {
    await srv.close();
  }
});
