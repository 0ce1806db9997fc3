/**
 * What the UI suite checks on every page, in the page's own browser session:
 * nothing wider than the viewport (unless it scrolls inside a container that
 * fits), a title of its own, and axe-core's serious and critical violations.
 */
import type { Page } from "playwright-core";

const AXE_SOURCE = await Deno.readTextFile(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url));

export interface Problem {
  page: string;
  /** "1366-light" */
  view: string;
  /** "note": a page-level finding for its owner that does not fail the suite */
  kind: "overflow" | "console" | "axe" | "title" | "status" | "note";
  detail: string;
}

/**
 * Elements sticking out of the viewport on the right, not clipped by a scrolling or clipping ancestor that fits.
 * Returns short selectors, and whether the document itself scrolls sideways.
 */
export async function overflow(page: Page): Promise<{ docWidth: number; offenders: string[] }> {
  return await page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const name = (el: Element) => {
      const id = el.id ? `#${el.id}` : "";
      const cls = typeof el.className === "string" && el.className.trim()
        ? "." + el.className.trim().split(/\s+/).slice(0, 2).join(".")
        : "";
      const tid = el.getAttribute("data-testid");
      return `${el.tagName.toLowerCase()}${id}${cls}${tid ? `[data-testid=${tid}]` : ""}`;
    };
    const clippedInside = (el: Element) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        const ox = getComputedStyle(a).overflowX;
        if (ox !== "visible" && a.getBoundingClientRect().right <= vw + 1) return true;
      }
      return false;
    };
    const offenders: string[] = [];
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > vw + 1 && !clippedInside(el)) {
        // report the outermost offender only
        const parent = el.parentElement;
        const pr = parent?.getBoundingClientRect();
        if (parent && parent !== document.body && pr && pr.right > vw + 1 && !clippedInside(parent)) continue;
        offenders.push(`${name(el)} (right edge ${Math.round(r.right)} px)`);
      }
    }
    return { docWidth: document.documentElement.scrollWidth, offenders: offenders.slice(0, 8) };
  });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** axe-core run in the page (evaluated through DevTools, so the page's CSP does not block it). */
export async function axe(page: Page): Promise<AxeViolation[]> {
  const loaded = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe !== "undefined");
  if (!loaded) await page.evaluate(AXE_SOURCE);
  return await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const a = (globalThis as any).axe;
    const r = await a.run(document, {
      resultTypes: ["violations"],
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    // deno-lint-ignore no-explicit-any
    return r.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      // deno-lint-ignore no-explicit-any
      nodes: v.nodes.slice(0, 3).map((n: any) => String(n.target.join(" "))),
    }));
  });
}

export const seriousOrWorse = (v: AxeViolation) => v.impact === "serious" || v.impact === "critical";

/** Tables that scroll sideways by themselves (the stylesheet's fallback) instead of inside a `.table-wrap`. */
export async function bareScrollingTables(page: Page): Promise<string[]> {
  return await page.evaluate(() =>
    [...document.querySelectorAll<HTMLTableElement>("main table")]
      .filter((t) => !t.closest(".table-wrap") && t.scrollWidth > t.clientWidth + 1)
      .map((t) =>
        t.getAttribute("data-testid") ?? t.closest("section,div")?.querySelector("h2,h3")?.textContent ?? "table"
      )
  );
}
