/**
 * The OTA pages (/firmware, /rollouts with its wizard and preview, /rollouts/<id>) in a real Chromium at 1366 px
 * and 390 px, light and dark: nothing wider than the viewport, no console errors, a title of their own, no serious
 * or critical axe-core violation; and the rollout page's progress bars show the devices' states as the API has them.
 */
import { assert, assertEquals } from "@std/assert";
import type { Page } from "playwright-core";
import { launchBrowser } from "../helpers/browser.ts";
import { waitFor } from "../helpers/net.ts";
import { IN_FLIGHT, type OtaDevice, PROGRESS_PARTS, progressPart } from "../../shared/ota.ts";
import { registerFleet, rolloutState, startFleet, startOtaServer, uploadFirmware } from "./fleet.ts";
import { axeViolations, overflowOf, seriousOrCritical } from "./page_checks.ts";

/** Counts per bar part, from the API's devices. */
function partsOf(devices: OtaDevice[]) {
  const out: Record<string, number> = {};
  for (const d of devices) out[progressPart(d.state)] = (out[progressPart(d.state)] ?? 0) + 1;
  return out;
}

/** What a bar shows: each part's count and its share of the bar's width. */
async function barOf(page: Page, selector: string) {
  return await page.locator(selector).evaluate((bar) => {
    const w = bar.getBoundingClientRect().width;
    return [...bar.querySelectorAll("span[data-part]")].map((s) => ({
      part: (s as HTMLElement).dataset.part!,
      count: Number((s as HTMLElement).dataset.count),
      share: s.getBoundingClientRect().width / w,
    }));
  });
}

function assertBarMatches(bar: { part: string; count: number; share: number }[], devices: OtaDevice[], what: string) {
  const want = partsOf(devices);
  assertEquals(Object.fromEntries(bar.map((b) => [b.part, b.count])), want, `${what}: counts`);
  for (const b of bar) {
    const expected = b.count / devices.length;
    assert(Math.abs(b.share - expected) < 0.02, `${what}: ${b.part} takes ${b.share} of the bar, want ${expected}`);
  }
  // parts in the legend's order
  assertEquals(bar.map((b) => b.part), PROGRESS_PARTS.filter((p) => want[p]), `${what}: order`);
}

Deno.test({
  name: "browser: OTA pages at 1366 and 390 px, light and dark — fit, no errors, accessible, bars match devices",
  sanitizeResources: false, // playwright keeps pipes to the browser process until it exits
  sanitizeOps: false,
  fn: async () => {
    const srv = await startOtaServer();
    // 5 units update, 1 takes a bad image (fails), 2 never come online (wait)
    const fleet = await startFleet(srv, 8, {
      firstIndex: 500,
      behaviourOf: (i) => (i === 5 ? "bad_image" : i >= 6 ? "offline" : "ok"),
    });
    const browser = await launchBrowser();
    try {
      await registerFleet(srv, fleet);
      const fw = await uploadFirmware(srv);
      const res = await srv.api("/api/rollouts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: "plant-1 to 1.18.300",
          firmwareId: fw.id,
          baseUrl: srv.url,
          pacingPerMin: 6000,
          verifyTimeoutMs: 20_000,
          groups: [
            { name: "canary", percent: 50, successThreshold: 25, errorThreshold: 100 },
            { name: "rest", percent: 50, successThreshold: 80, errorThreshold: 100 },
          ],
        }),
      });
      assertEquals(res.status, 201);
      const r = await res.json();
      // settled: nothing in flight, the bad image failed, the offline units wait
      let devices: OtaDevice[] = [];
      await waitFor(async () => {
        devices = (await rolloutState(srv, r.id)).devices;
        // the offline units end skipped_offline once their group runs (scheduled before): wait for that too
        return devices.every((d) => !IN_FLIGHT.includes(d.state)) &&
          devices.filter((d) => d.state === "verified").length === 5 &&
          devices.filter((d) => d.state === "skipped_offline").length === 2 &&
          devices.some((d) => d.state === "failed" || d.state === "timed_out");
      }, { what: "rollout settled: 5 verified, 1 failed, 2 skipped offline", timeoutMs: 40_000 });
      assertEquals(partsOf(devices), { verified: 5, failed: 1, waiting: 2 });

      for (const colorScheme of ["light", "dark"] as const) {
        for (const width of [1366, 390]) {
          const view = `${width} px ${colorScheme}`;
          const ctx = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
          const page = await ctx.newPage();
          const errors: string[] = [];
          page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
          page.on("console", (m) => m.type() === "error" && errors.push(`${page.url()}: ${m.text()}`));
          await srv.browserLogin?.(page);

          const check = async (what: string, title: RegExp) => {
            assert(title.test(await page.title()), `${what} (${view}): title ${await page.title()}`);
            const o = await overflowOf(page);
            assert(o.docWidth <= o.viewport, `${what} (${view}): page ${o.docWidth} px wide in ${o.viewport} px`);
            assertEquals(o.offenders, [], `${what} (${view}): wider than the viewport`);
            // the site header (layout, navigation menu) is the UI suite's; these pages' own content is checked here
            const bad = (await axeViolations(page, ["header.top"])).filter(seriousOrCritical);
            assertEquals(bad, [], `${what} (${view}): axe`);
          };

          await page.goto(`${srv.url}/firmware`);
          await check("/firmware", /^Firmware · meterfleet$/);
          assertEquals(await page.locator('[data-testid="firmware"] tbody tr').count(), 1);

          // the list and the wizard, then the wizard with its preview
          await page.goto(`${srv.url}/rollouts`);
          await check("/rollouts", /^Rollouts · meterfleet$/);
          assertEquals(await page.locator('[data-testid="rollouts"] tbody tr').count(), 1);
          assertBarMatches(await barOf(page, '[data-testid="rollout-progress"]'), devices, `list bar (${view})`);
          await page.getByLabel("Rollout name").fill("second");
          await page.getByRole("button", { name: "Preview targets" }).click();
          await page.getByTestId("preview").waitFor();
          // the 5 verified units are on the new version already: the 3 others are the targets
          assertEquals(await page.getByTestId("preview-count").textContent(), "3");
          await check("/rollouts preview", /^Rollouts · meterfleet$/);

          // a refused field is marked where it is
          await page.getByLabel("Pacing (devices/min)").fill("fast");
          await page.getByRole("button", { name: "Preview again" }).click();
          await page.getByTestId("message").waitFor();
          assertEquals(await page.locator("#f-pacingPerMin").getAttribute("aria-invalid"), "true");
          assertEquals(await page.locator("#f-pacingPerMin-error").textContent(), 'pacing: a number, got "fast"');
          await check("/rollouts refused", /^Rollouts · meterfleet$/);
          // Chromium logs the refused form's 400 answer itself; that one line is expected, nothing else
          assertEquals(errors.splice(0).filter((e) => !/\/rollouts: .*status of 400/.test(e)), [], view);

          // the rollout: why it waits, bars per group, devices with badges and links
          const again = (await rolloutState(srv, r.id)).devices;
          assertEquals(again.map((d) => d.state), devices.map((d) => d.state), "settled states stay");
          await page.goto(`${srv.url}/rollouts/${r.id}`);
          await check(`/rollouts/${r.id}`, new RegExp(`^Rollout ${r.id} · meterfleet$`));
          assertEquals(await page.getByTestId("status").textContent(), "running");
          const blockers = await page.getByTestId("blockers").textContent() ?? "";
          assert(/2 units never seen online since the rollout started/.test(blockers), blockers);
          assert(await page.getByTestId("blockers").isVisible());
          assertBarMatches(await barOf(page, '[data-testid="progress-all"]'), devices, `overall bar (${view})`);
          const { rollout } = await rolloutState(srv, r.id);
          for (const g of rollout.groups) {
            const mine = devices.filter((d) => d.group === g.index);
            assertBarMatches(
              await barOf(page, `[data-testid="group-${g.index}"] [data-testid="group-progress"]`),
              mine,
              `group ${g.name} bar (${view})`,
            );
          }
          const rows = await page.locator('[data-testid="devices"] tbody tr').evaluateAll((trs) =>
            trs.map((tr) => ({
              href: tr.querySelector("a")?.getAttribute("href"),
              state: tr.querySelector("[data-state]")?.getAttribute("data-state"),
            }))
          );
          assertEquals(
            rows.sort((a, b) => a.href!.localeCompare(b.href!)),
            devices.map((d) => ({ href: `/units/${d.unitId}`, state: d.state as string }))
              .sort((a, b) => a.href.localeCompare(b.href)),
          );
          // keyboard: every control of the page's content is reached by Tab and shows where the focus is
          if (width === 1366 && colorScheme === "light") {
            const seen: string[] = [];
            for (let i = 0; i < 60; i++) {
              await page.keyboard.press("Tab");
              const f = await page.evaluate(() => {
                const el = document.activeElement as HTMLElement | null;
                if (!el || !el.closest("main")) return null;
                const st = getComputedStyle(el);
                return {
                  what: `${el.tagName.toLowerCase()} ${(el.textContent ?? "").trim().slice(0, 20)}`,
                  visible: st.outlineStyle !== "none" && parseFloat(st.outlineWidth) >= 2,
                };
              });
              if (!f) continue;
              assert(f.visible, `no visible focus on ${f.what}`);
              seen.push(f.what);
            }
            for (const want of ["button Pause", "button Retry failed", "select", "a u-"]) {
              assert(seen.some((s) => s.startsWith(want)), `Tab never reached ${want}: ${seen.join(" | ")}`);
            }
          }
          // the device table scrolls inside its container at phone width, never the page
          if (width === 390) {
            const wrap = await page.locator('.table-wrap:has([data-testid="devices"])').evaluate((el) => ({
              scroll: el.scrollWidth,
              client: el.clientWidth,
            }));
            assert(wrap.scroll > wrap.client, `device table fits 390 px without scrolling? ${JSON.stringify(wrap)}`);
          }
          assertEquals(errors, [], view);
          await ctx.close();
        }
      }
    } finally {
      await browser.close();
      await fleet.stop();
      await srv.close();
    }
  },
});
