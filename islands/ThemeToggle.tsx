/**
 * Light / dark / system colour scheme. The choice lives in a cookie so the
 * server renders html[data-theme] on the next page (no flash of the wrong theme).
 */
import { useState } from "preact/hooks";

export type Theme = "auto" | "light" | "dark";
const NEXT: Record<Theme, Theme> = { auto: "dark", dark: "light", light: "auto" };
const LABEL: Record<Theme, string> = { auto: "System", dark: "Dark", light: "Light" };

export default function ThemeToggle({ initial }: { initial: Theme }) {
  const [theme, setTheme] = useState<Theme>(initial);
  const choose = () => {
    const t = NEXT[theme];
    setTheme(t);
    if (t === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = t;
    document.cookie = `mf_theme=${t}; path=/; max-age=31536000; samesite=lax`;
  };
  return (
    <button
      type="button"
      class="theme-toggle"
      onClick={choose}
      title={`Colour theme (system, dark or light); click for ${LABEL[NEXT[theme]].toLowerCase()}`}
      data-testid="theme-toggle"
    >
      <span aria-hidden="true">{theme === "dark" ? "☾" : theme === "light" ? "☀" : "◐"}</span> Theme: {LABEL[theme]}
    </button>
  );
}
