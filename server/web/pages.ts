/**
 * File-system routes (Fresh conventions) on Hono. Each routes/**.tsx file is a
 * page: `export default` renders it, optional `export const handler` loads its
 * data (a function for GET, or { GET, POST, ... }) and calls ctx.render(data).
 * routes/_app.tsx wraps every page. `[id]` segments become `:id` params.
 */
import { type ComponentChildren, type ComponentType, h } from "preact";
import { renderToString } from "preact-render-to-string";
import type { Context } from "hono";
import type { App, AppEnv, ServerContext } from "../context.ts";
import type { IslandBundle } from "./islands.ts";

export interface PageProps<T = unknown> {
  data: T;
  url: URL;
  params: Record<string, string>;
}

export interface RouteContext<T = unknown> {
  req: Request;
  url: URL;
  params: Record<string, string>;
  /** the server: KV, config, clock, log, MQTT (the Hono app is not here; `hono` is the request context) */
  server: ServerContext;
  /** the Hono context, for cookies and auth state */
  hono: Context<AppEnv>;
  render(data: T, init?: { status?: number; headers?: HeadersInit }): Response;
}

type MethodHandler<T> = (ctx: RouteContext<T>) => Response | Promise<Response>;
export type RouteHandler<T = unknown> =
  | MethodHandler<T>
  | Partial<Record<"GET" | "POST" | "PUT" | "DELETE", MethodHandler<T>>>;

export interface AppProps {
  url: URL;
  /** the request, for the layout's own needs (who is signed in) */
  req: Request;
  children: ComponentChildren;
}

interface RouteModule {
  default?: ComponentType<PageProps<unknown>>;
  handler?: RouteHandler<unknown>;
}

/** routes/meters/[id].tsx → /meters/:id ; routes/index.tsx → / */
export function routePath(file: string): string {
  const segs = file.replace(/\.tsx?$/, "").split("/").filter((s) => s !== "index");
  return "/" + segs.map((s) => s.replace(/^\[(\w+)\]$/, ":$1")).join("/");
}

async function listRouteFiles(dir: URL, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("_")) continue;
    if (e.isDirectory) out.push(...await listRouteFiles(new URL(e.name + "/", dir), `${prefix}${e.name}/`));
    else if (/\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name)) out.push(prefix + e.name);
  }
  return out;
}

export async function mountPages(app: App, ctx: ServerContext, root: URL, islands: IslandBundle) {
  const dir = new URL("routes/", root);
  const appMod = await import(new URL("_app.tsx", dir).href) as { default: ComponentType<AppProps> };
  app.get(islands.path, (c) =>
    c.body(islands.js as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
    }));

  const notFound = await import(new URL("_404.tsx", dir).href).catch(() => null) as
    | { default: ComponentType<PageProps<unknown>> }
    | null;
  app.notFound((c) => {
    if (!notFound || !(c.req.header("accept") ?? "").includes("text/html")) {
      return c.json({ error: "not found" }, 404);
    }
    const url = new URL(c.req.url);
    const body = h(notFound.default, { data: undefined, url, params: {} });
    return c.html("<!DOCTYPE html>" + renderToString(h(appMod.default, { url, req: c.req.raw, children: body })), 404);
  });

  const files = await listRouteFiles(dir);
  // static segments before dynamic ones, as Fresh does
  files.sort((a, b) => Number(a.includes("[")) - Number(b.includes("[")) || a.localeCompare(b));
  for (const file of files) {
    const mod = await import(new URL(file, dir).href) as RouteModule;
    const Page = mod.default;
    const path = routePath(file);
    const handlers: Partial<Record<string, MethodHandler<unknown>>> = typeof mod.handler === "function"
      ? { GET: mod.handler }
      : mod.handler ?? {};
    if (!handlers.GET && Page) handlers.GET = (rc) => rc.render(undefined);
    for (const [method, handle] of Object.entries(handlers)) {
      app.on(method, path, async (c) => {
        const url = new URL(c.req.url);
        const rc: RouteContext<unknown> = {
          req: c.req.raw,
          url,
          params: c.req.param() as Record<string, string>,
          server: ctx,
          hono: c,
          render(data, init) {
            if (!Page) throw new Error(`${file} has no default export to render`);
            let html = "<!DOCTYPE html>" +
              renderToString(
                h(appMod.default, { url, req: c.req.raw, children: h(Page, { data, url, params: rc.params }) }),
              );
            if (html.includes("<mf-island")) {
              html = html.replace("</body>", `<script type="module" src="${islands.path}"></script></body>`);
            }
            const headers = new Headers(init?.headers);
            headers.set("content-type", "text/html; charset=utf-8");
            return new Response(html, { status: init?.status ?? 200, headers });
          },
        };
        return await handle!(rc);
      });
    }
  }
}
