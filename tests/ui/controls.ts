/**
 * What a user does with the main controls, in Chromium: the phone menu, the
 * theme toggle, keyboard focus, energy period navigation (previous / next,
 * level, date picker), the chart legend on hover, the CSV of what is shown,
 * links between fleet, site, meter and live pages, and a live meter page
 * that changes without a reload.
 */
import { assert, assertEquals, assertGreater, assertNotEquals } from "@std/assert";
import type { Browser, Page } from "playwright-core";
import { SITE, SITE_METERS, type UiFixture } from "./fixture.ts";

async function signedInPage(browser: Browser, fx: UiFixture, width: number, scheme: "light" | "dark" = "light") {
  const ctx = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await fx.srv.browserLogin!(page);
  return { page, errors, close: () => ctx.close() };
}

const text = async (page: Page, testid: string) => (await page.getByTestId(testid).first().textContent())?.trim();

export async function phoneMenu(browser: Browser, fx: UiFixture) {
  const { page, errors, close } = await signedInPage(browser, fx, 390);
  try {
    await page.goto(`${fx.srv.url}/energy`);
    const link = page.locator("nav.main-nav a", { hasText: "Inventory" });
    assertEquals(await link.isVisible(), false, "the navigation is folded at 390 px");
    await page.getByTestId("nav-toggle").click();
    assertEquals(await link.isVisible(), true, "the menu opens");
    await link.click();
    await page.waitForURL(/\/units$/);
    assertEquals(await page.locator('nav.main-nav a[aria-current="page"]').textContent(), "Inventory");
    // the same menu from the keyboard: focus the toggle, Space opens it
    await page.locator("#nav-toggle").focus();
    await page.keyboard.press("Space");
    assertEquals(await page.locator("nav.main-nav a", { hasText: "Energy" }).isVisible(), true);
    assertEquals(errors, []);
  } finally {
    await close();
  }
}

export async function themeAndKeyboard(browser: Browser, fx: UiFixture) {
  const { page, errors, close } = await signedInPage(browser, fx, 1366, "light");
  try {
    await page.goto(`${fx.srv.url}/energy`);
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await bg();
    // System → Dark: the page turns dark at once and stays dark on the next page (a cookie, rendered by the server)
    await page.getByTestId("theme-toggle").click();
    assertEquals(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    const dark = await bg();
    assertNotEquals(dark, light);
    await page.goto(`${fx.srv.url}/rollouts`);
    assertEquals(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    assertEquals(await bg(), dark);
    await page.getByTestId("theme-toggle").click(); // → Light
    await page.getByTestId("theme-toggle").click(); // → System
    assertEquals(await page.evaluate(() => document.documentElement.dataset.theme ?? null), null);

    // keyboard: the first Tab lands on "Skip to content", visibly; Enter moves focus to the page's content
    await page.goto(`${fx.srv.url}/energy`);
    await page.keyboard.press("Tab");
    const first = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const cs = getComputedStyle(el);
      return {
        text: el.textContent,
        outline: cs.outlineStyle,
        width: parseFloat(cs.outlineWidth),
        top: el.getBoundingClientRect().top,
      };
    });
    assertEquals(first.text, "Skip to content");
    assertNotEquals(first.outline, "none");
    assertGreater(first.width, 1.5);
    assert(first.top >= 0, "the skip link comes into view when focused");
    await page.keyboard.press("Enter");
    assertEquals(await page.evaluate(() => document.activeElement?.id), "main");
    // the next Tab goes into the content (period navigation), with a visible focus ring
    await page.keyboard.press("Tab");
    const next = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return { inMain: !!el.closest("main"), outline: getComputedStyle(el).outlineStyle };
    });
    assert(next.inMain, "focus moved into the page");
    assertNotEquals(next.outline, "none");
    assertEquals(errors, []);
  } finally {
    await close();
  }
}

/** Numbers of the period table: {bucket label: total} */
async function tableTotals(page: Page): Promise<Map<string, string>> {
  const rows = await page.locator("[data-testid=energy-table] tbody tr").evaluateAll((trs) =>
    trs.map((
      tr,
    ) => [tr.querySelector("th")!.textContent!.trim(), tr.querySelector("[data-field=total]")!.textContent!.trim()])
  );
  return new Map(rows as [string, string][]);
}

export async function energyNavigation(browser: Browser, fx: UiFixture) {
  const { page, errors, close } = await signedInPage(browser, fx, 1366);
  try {
    await page.goto(`${fx.srv.url}/energy/site/${SITE}?period=month`);
    await page.waitForSelector("[data-testid=energy-bars] canvas");
    const thisMonth = await text(page, "period-label");
    // one band per site meter, largest first, each with a real value (no "--")
    const legend = await page.locator("[data-testid=legend] li").evaluateAll((lis) =>
      lis.map((li) => li.getAttribute("data-series"))
    );
    assertEquals([...legend].sort(), [...SITE_METERS].sort());
    for (const v of await page.getByTestId("legend-value").allTextContents()) assert(/^\d+\.\d{3}$/.test(v.trim()), v);

    // previous month: a full month of days, every one with energy (31 days of history)
    await page.getByTestId("period-prev").click();
    await page.waitForSelector("[data-testid=energy-bars] canvas");
    const prevLabel = await text(page, "period-label");
    assertNotEquals(prevLabel, thisMonth);
    const days = await tableTotals(page);
    assert(days.size >= 28 && days.size <= 31, `a month of days, got ${days.size}`);
    // next returns to this month
    await page.getByTestId("period-next").click();
    assertEquals(await text(page, "period-label"), thisMonth);

    // the year: months as buckets; the first month with data starts the axis (nothing before the history)
    await page.locator(".period-nav .levels a", { hasText: "Year" }).click();
    await page.waitForSelector("[data-testid=energy-bars] canvas");
    const months = await tableTotals(page);
    // 31 days back reach into two or three calendar months; the months before are left out, and the page says so
    assert(months.size >= 2 && months.size <= 3, `months since the history began, got ${[...months.keys()]}`);
    if (new Date(fx.historyFrom).getUTCMonth() !== 0) await page.getByTestId("trimmed").waitFor();

    // the date picker: a day 20 days ago, by day → 24 hourly buckets (23/25 on a DST day) that add up
    await page.locator(".period-nav .levels a", { hasText: "Day" }).click();
    const d = new Date(Date.now() - 20 * 86_400_000).toISOString().slice(0, 10);
    await page.fill("#period-date", d);
    await page.locator("[data-testid=period-pick] button").click();
    await page.waitForURL(new RegExp(`date=${d}`));
    await page.waitForSelector("[data-testid=energy-bars] canvas");
    const hours = await tableTotals(page);
    const dayLabel = await text(page, "period-label");
    assert(hours.size >= 23 && hours.size <= 25, `hours of ${d}: ${hours.size}`);
    const sum = [...hours.values()].reduce((s, v) => s + Number(v), 0);
    const total = Number(await text(page, "period-total"));
    assert(Math.abs(sum - total) < 0.002 * hours.size, `hours add up: ${sum} vs ${total}`);
    assertGreater(total, 0);

    // hover a bar: the legend shows that hour and each meter's real value, equal to the table's cells
    const box = (await page.locator("[data-testid=energy-bars] .u-over").boundingBox())!;
    await page.mouse.move(box.x + box.width * (12.5 / hours.size), box.y + box.height / 2);
    await page.waitForFunction(() =>
      !document.querySelector("[data-testid=legend-at]")?.textContent?.startsWith("Total")
    );
    const at = (await text(page, "legend-at"))!;
    const [label, value] = at.split(": ");
    assertEquals(hours.get(label), value.replace(" kWh", ""), `legend "${at}" matches the table`);

    // the CSV link is exactly the table: same buckets, same totals
    const href = (await page.getByTestId("period-csv").getAttribute("href"))!;
    const csv = await (await page.request.get(fx.srv.url + href)).text();
    const lines = csv.trim().split("\n");
    assertEquals(lines.length - 1, hours.size);
    const head = lines[0].split(",");
    assertEquals(head.at(-1), "total_kwh");
    const csvTotals = lines.slice(1).map((l) => Number(l.split(",").at(-1)).toFixed(3));
    assertEquals(csvTotals, [...hours.values()]);

    // links: a meter of the site → its energy page for the same day → its live page
    await page.locator(`[data-testid=site-members] a[href^="/energy/unit/${SITE_METERS[0]}"]`).click();
    await page.waitForURL(new RegExp(`/energy/unit/${SITE_METERS[0]}\\?period=day&date=${d}`));
    assertEquals(await text(page, "period-label"), dayLabel);
    await page.getByTestId("live-link").click();
    await page.waitForURL(new RegExp(`/meters/${SITE_METERS[0]}$`));
    assertEquals(errors, []);
  } finally {
    await close();
  }
}

export async function liveMeter(browser: Browser, fx: UiFixture) {
  const { page, errors, close } = await signedInPage(browser, fx, 390);
  try {
    // from the fleet energy table to a meter's live page
    await page.goto(`${fx.srv.url}/energy`);
    await page.locator('tr[data-meter="sim-06"] a[href="/meters/sim-06"]').click();
    await page.waitForSelector("[data-testid=power-chart] canvas");
    assertEquals(await text(page, "meter-status"), "online");
    await page.waitForFunction(() => document.querySelector("[data-testid=stream]")?.textContent === "live");
    await page.evaluate(() => ((globalThis as unknown as { __mark: number }).__mark = 1));
    const before = await text(page, "live-energy");
    const power = await text(page, "live-power");
    await page.waitForFunction(
      ([e, p]) =>
        document.querySelector("[data-testid=live-energy]")?.textContent?.trim() !== e ||
        document.querySelector("[data-testid=live-power]")?.textContent?.trim() !== p,
      [before, power] as const,
      { timeout: 15_000 },
    );
    assertEquals(await page.evaluate(() => (globalThis as unknown as { __mark: number }).__mark), 1, "no reload");
    assertEquals(errors, []);
  } finally {
    await close();
  }
}

/** The inventory's filter form: a site narrows the list, an unknown one empties it, "clear" restores it. */
export async function inventoryFilter(browser: Browser, fx: UiFixture) {
  const { page, errors, close } = await signedInPage(browser, fx, 390);
  try {
    await page.goto(`${fx.srv.url}/units`);
    const unitLinks = () => page.locator('main table a[href^="/units/u-"]').count();
    assertEquals(await unitLinks(), 4);
    const form = page.locator("main form", { has: page.locator('input[name="site"]') }).first();
    await form.locator('input[name="site"]').fill("plant-1");
    await form.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/site=plant-1/);
    assertEquals(await unitLinks(), 4);
    await page.locator('main form input[name="site"]').first().fill("nowhere");
    await page.locator("main form", { has: page.locator('input[name="site"]') }).first().getByRole("button", {
      name: "Filter",
    }).click();
    await page.waitForURL(/site=nowhere/);
    assertEquals(await unitLinks(), 0);
    await page.getByRole("link", { name: "clear" }).click();
    await page.waitForURL(/\/units$/);
    assertEquals(await unitLinks(), 4);
    assertEquals(errors, []);
  } finally {
    await close();
  }
}

/** The live fleet's filters and sort: a site narrows it to its meters, sorting by id and flipping the direction reverses them. */
export async function liveFleetControls(browser: Browser, fx: UiFixture) {
  const { page, errors, close } = await signedInPage(browser, fx, 1366);
  try {
    await page.goto(`${fx.srv.url}/`);
    await page.waitForSelector("tr[data-meter]");
    // while the page is open it draws the fleet's power and each meter's as sparklines from the stream
    await page.waitForFunction(
      () => {
        const fleet = document.querySelector('[data-testid="fleet-chart"] polyline')?.getAttribute("points") ?? "";
        const rows = document.querySelectorAll("tr[data-meter] td[data-field=power] polyline").length;
        return fleet.split(" ").length >= 3 && rows > 0;
      },
      undefined,
      { timeout: 20_000 },
    );
    const order = () =>
      page.locator("tr[data-meter]").evaluateAll((trs) => trs.map((t) => t.getAttribute("data-meter")));
    await page.getByTestId("filter-site").selectOption(SITE);
    await page.waitForFunction((n) => document.querySelectorAll("tr[data-meter]").length === n, SITE_METERS.length);
    assertEquals([...await order()].sort(), [...SITE_METERS].sort());
    await page.getByTestId("sort").selectOption("id");
    await page.waitForFunction(() => {
      const ids = [...document.querySelectorAll("tr[data-meter]")].map((t) => t.getAttribute("data-meter")!);
      return ids.join() === [...ids].sort().join() || ids.join() === [...ids].sort().reverse().join();
    });
    const first = await order();
    await page.getByTestId("sort-dir").click();
    await page.waitForFunction((before) => {
      const ids = [...document.querySelectorAll("tr[data-meter]")].map((t) => t.getAttribute("data-meter"));
      return ids.join() === [...before].reverse().join();
    }, first);
    // a meter's row links to its live page
    await page.locator(`tr[data-meter="${SITE_METERS[0]}"] a`).first().click();
    await page.waitForURL(new RegExp(`/meters/${SITE_METERS[0]}$`));
    assertEquals(errors, []);
  } finally {
    await close();
  }
}
