/**
 * Tables a page did not put in a `.table-wrap` scroll sideways by themselves on
 * a phone (static/styles.css); this makes each one that actually scrolls
 * focusable, so a keyboard user can scroll it too (WCAG 2.1.1). It renders
 * nothing and touches only the tabindex of such tables.
 */
import { useEffect } from "preact/hooks";

export default function ScrollRegions() {
  useEffect(() => {
    const mark = () => {
      for (const t of document.querySelectorAll<HTMLTableElement>("main table")) {
        if (t.closest(".table-wrap")) continue;
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
