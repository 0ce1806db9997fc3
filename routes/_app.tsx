import type { AppProps } from "../server/web/pages.ts";
import { authOf, csrfTokenOf } from "../server/auth/middleware.ts";
import ThemeToggle, { type Theme } from "../islands/ThemeToggle.tsx";

const NAV: [href: string, label: string, minRole?: "admin"][] = [
  ["/", "Live fleet"],
  ["/energy", "Energy"],
  ["/units", "Inventory"],
  ["/flash", "Flashing"],
  ["/firmware", "Firmware"],
  ["/rollouts", "Rollouts"],
  ["/admin", "Access", "admin"],
];

/** The navigation entry a path belongs to ("/units/x/calibration" → "/units"). */
function sectionOf(path: string): string {
  if (path === "/" || path.startsWith("/meters/")) return "/";
  return NAV.map(([href]) => href).find((href) => href !== "/" && (path === href || path.startsWith(href + "/"))) ??
    "";
}

const TITLES: [RegExp, (m: string[]) => string][] = [
  [/^\/$/, () => "Live fleet"],
  [/^\/meters\/([^/]+)$/, (m) => `Meter ${m[1]} (live)`],
  [/^\/energy\/site\/([^/]+)$/, (m) => `Energy of site ${m[1]}`],
  [/^\/energy\/unit\/([^/]+)$/, (m) => `Energy of ${m[1]}`],
  [/^\/energy$/, () => "Energy"],
  [/^\/units\/([^/]+)\/calibration$/, (m) => `Calibration of ${m[1]}`],
  [/^\/units\/([^/]+)\/([^/]+)$/, (m) => `${m[2][0].toUpperCase()}${m[2].slice(1)} of ${m[1]}`],
  [/^\/units\/([^/]+)$/, (m) => `Unit ${m[1]}`],
  [/^\/units$/, () => "Inventory"],
  [/^\/flash$/, () => "Flashing"],
  [/^\/firmware$/, () => "Firmware"],
  [/^\/rollouts\/([^/]+)$/, (m) => `Rollout ${m[1]}`],
  [/^\/rollouts$/, () => "Rollouts"],
  [/^\/admin$/, () => "Access"],
  [/^\/account$/, () => "Your account"],
  [/^\/login$/, () => "Sign in"],
];

/** A title per page, from its path (the layout renders before the page, so the path is what it knows). */
export function pageTitle(path: string): string {
  for (const [re, name] of TITLES) {
    const m = path.match(re);
    if (m) {
      try {
        return `${name(m.map((s) => decodeURIComponent(s)))} · meterfleet`;
      } catch {
        return `${name([...m])} · meterfleet`;
      }
    }
  }
  return "meterfleet";
}

function themeOf(req: Request): Theme {
  const m = (req.headers.get("cookie") ?? "").match(/(?:^|;\s*)mf_theme=(light|dark|auto)\b/);
  return (m?.[1] as Theme) ?? "auto";
}

/** The document around every page: navigation for who is signed in (a menu at phone width), and sign-out. */
export default function App({ children, req, url }: AppProps) {
  const p = authOf(req).principal;
  const user = p?.kind === "user" ? p : null;
  const theme = themeOf(req);
  const current = sectionOf(url.pathname);
  return (
    <html lang="en" data-theme={theme === "auto" ? undefined : theme}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{pageTitle(url.pathname)}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/static/uplot.css" />
        <link rel="stylesheet" href="/static/styles.css" />
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to content</a>
        <header class="top">
          <div class="bar">
            <a class="brand" href="/">meterfleet</a>
            {user
              ? (
                <>
                  <input type="checkbox" id="nav-toggle" class="nav-toggle" aria-controls="nav-panel" />
                  <label for="nav-toggle" class="nav-toggle-label" data-testid="nav-toggle">
                    <span class="bars" aria-hidden="true"></span>Menu
                  </label>
                  <div class="nav-panel" id="nav-panel">
                    <nav class="main-nav" aria-label="Main">
                      {NAV.filter(([, , min]) => !min || user.role === min).map(([href, label]) => (
                        <a key={href} href={href} aria-current={href === current ? "page" : undefined}>{label}</a>
                      ))}
                    </nav>
                    <div class="account">
                      <ThemeToggle initial={theme} />
                      <span class="who">
                        <a href="/account" title="Your account: change your password">{user.username}</a> ({user.role})
                      </span>
                      <form method="post" action="/logout" class="signout inline">
                        <input type="hidden" name="_csrf" value={csrfTokenOf(req)} />
                        <button type="submit">Sign out</button>
                      </form>
                    </div>
                  </div>
                </>
              )
              : (
                <div class="account">
                  <ThemeToggle initial={theme} />
                </div>
              )}
          </div>
        </header>
        <main id="main" tabIndex={-1}>{children}</main>
      </body>
    </html>
  );
}
