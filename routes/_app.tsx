import type { AppProps } from "../server/web/pages.ts";
import { authOf, csrfTokenOf } from "../server/auth/middleware.ts";

const NAV: [href: string, label: string, minRole?: "admin"][] = [
  ["/", "Live fleet"],
  ["/energy", "Energy"],
  ["/units", "Inventory"],
  ["/flash", "Flashing"],
  ["/firmware", "Firmware"],
  ["/rollouts", "Rollouts"],
  ["/admin", "Access", "admin"],
];

/** The document around every page: navigation for who is signed in, and sign-out. */
export default function App({ children, req }: AppProps) {
  const p = authOf(req).principal;
  const user = p?.kind === "user" ? p : null;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>meterfleet</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/static/styles.css" />
        <link rel="stylesheet" href="/static/uplot.css" />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">meterfleet</a>
          {user
            ? NAV.filter(([, , min]) => !min || user.role === min).map(([href, label]) => (
              <a key={href} href={href}>{label}</a>
            ))
            : null}
          {user
            ? (
              <form method="post" action="/logout" class="signout">
                <input type="hidden" name="_csrf" value={csrfTokenOf(req)} />
                <span class="who">
                  <a href="/account" title="Your account: change your password">{user.username}</a> ({user.role})
                </span>{" "}
                <button type="submit">Sign out</button>
              </form>
            )
            : null}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
