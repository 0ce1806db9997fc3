import type { AppProps } from "../server/web/pages.ts";

/** The document around every page. */
export default function App({ children }: AppProps) {
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
          <a href="/">Live fleet</a>
          <a href="/units">Inventory</a> <a href="/firmware">Firmware</a> <a href="/rollouts">Rollouts</a> <a href="/flash">Flashing</a>
          <a href="/energy">Energy</a>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
