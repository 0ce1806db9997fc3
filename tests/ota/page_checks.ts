/**
 * Checks a browser test runs on a page as shown: nothing wider than the viewport (a table may be wider only
 * inside a scroll container that itself fits), and axe-core's accessibility rules.
 */
import type { Page } from "playwright-core";

const AXE_SOURCE = await Deno.readTextFile(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url));

/** The document's width, and the elements whose right edge passes the viewport outside any scroll container. */
export async function overflowOf(page: Page): Promise<{ viewport: number; docWidth: number; offenders: string[] }> {
  return await page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const name = (el: Element) => {
      const cls = typeof el.className === "string" && el.className.trim()
        ? "." + el.className.trim().split(/\s+/).join(".")
        : "";
      const tid = el.getAttribute("data-testid");
      return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${cls}${tid ? `[data-testid=${tid}]` : ""}`;
    };
    /** inside an ancestor that clips or scrolls and itself fits the viewport */
    const contained = (el: Element) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== "visible" && a.getBoundingClientRect().right <= vw + 1) return true;
      }
      return false;
    };
    const offenders: string[] = [];
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > vw + 1 && !contained(el)) offenders.push(`${name(el)} right edge ${Math.round(r.right)} px`);
    }
    return { viewport: vw, docWidth: document.documentElement.scrollWidth, offenders: offenders.slice(0, 10) };
  });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core (npm axe-core) run in the page; WCAG 2.1 A/AA and best-practice rules. `exclude` leaves out parts of
 * the page another suite answers for (e.g. the site header of the layout).
 */
export async function axeViolations(page: Page, exclude: string[] = []): Promise<AxeViolation[]> {
  if (!await page.evaluate(() => "axe" in globalThis)) await page.evaluate(AXE_SOURCE);
  return await page.evaluate(async (exclude) => {
    // deno-lint-ignore no-explicit-any
    const axe = (globalThis as any).axe;
    const r = await axe.run(exclude.length ? { include: [["html"]], exclude: exclude.map((s) => [s]) } : document, {
      resultTypes: ["violations"],
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    // deno-lint-ignore no-explicit-any
    return r.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      // deno-lint-ignore no-explicit-any
      nodes: v.nodes.slice(0, 4).map((n: any) => n.target.join(" ")),
    }));
  }, exclude);
}

export const seriousOrCritical = (v: AxeViolation) => v.impact === "serious" || v.impact === "critical";
