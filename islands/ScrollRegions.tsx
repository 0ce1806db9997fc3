/**
 * Tables a page did not put in a `.table-wrap` must not widen the page: at
 * phone width the stylesheet makes every such table scroll by itself; at any
 * width, this marks a table that is wider than its container (`.scrolls`, so
 * it scrolls inside itself) and makes it focusable, so a keyboard user can
 * scroll it too (WCAG 2.1.1). It renders nothing and touches only the class
 * and tabindex of such tables.
 */
import { useEffect } from "preact/hooks";

/** right edge of an element's content box */
function contentRight(el: Element): number {
  const cs = getComputedStyle(el);
  return el.getBoundingClientRect().right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth);
}

export default function ScrollRegions() {
  useEffect(() => {
    const mark = () => {
      for (const t of document.querySelectorAll<HTMLTableElement>("main table")) {
        if (t.closest(".table-wrap") || !t.parentElement) continue;
        const marked = t.classList.contains("scrolls");
        const tooWide = marked ? t.scrollWidth > t.clientWidth + 1 : t.getBoundingClientRect().right >
          contentRight(t.parentElement) + 1;
        if (tooWide && !marked) t.classList.add("scrolls");
        if (!tooWide && marked) t.classList.remove("scrolls");
        // scrolling by itself (marked, or the stylesheet's phone layout): reachable by keyboard
        const scrolls = t.scrollWidth > t.clientWidth + 1 && getComputedStyle(t).overflowX !== "visible";
        if (scrolls && !t.hasAttribute("tabindex")) {
          t.setAttribute("tabindex", "0");
          t.dataset.scrollRegion = "";
        } else if (!scrolls && t.dataset.scrollRegion !== undefined) {
          t.removeAttribute("tabindex");
          delete t.dataset.scrollRegion;
        }
      }
    };
    mark();
    const ro = new ResizeObserver(mark);
    ro.observe(document.body);
    // islands re-render their tables (live data): check again when the page's content changes
    const mo = new MutationObserver(() => requestAnimationFrame(mark));
    const main = document.querySelector("main");
    if (main) mo.observe(main, { childList: true, subtree: true });
    return () => {
      ro.disconnect();
      mo.disconnect();
    };
  }, []);
  return null;
}
