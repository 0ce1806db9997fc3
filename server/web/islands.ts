/**
 * Islands, the Fresh way without Fresh: every component in islands/ is
 * server-rendered like any other, but wrapped in <mf-island data-island=Name
 * data-props=JSON> so the browser bundle can hydrate it. The bundle (all
 * islands + Preact) is built with `deno bundle` and cached by source hash.
 */
import { type ComponentType, h, options, type VNode } from "preact";
import { encodeHex } from "@std/encoding/hex";

const islandNames = new Map<ComponentType<unknown>, string>();
let creatingInner = false;

function IslandWrapper(
  p: { name: string; Original: ComponentType<Record<string, unknown>>; props: Record<string, unknown> },
) {
  const { children: _children, ...serialisable } = p.props;
  creatingInner = true;
  const inner = h(p.Original, p.props);
  creatingInner = false;
  return h("mf-island", { "data-island": p.name, "data-props": JSON.stringify(serialisable) }, inner);
}

const previousVnodeHook = options.vnode;
options.vnode = (vnode: VNode) => {
  const name = typeof vnode.type === "function" ? islandNames.get(vnode.type as ComponentType<unknown>) : undefined;
  if (name && !creatingInner) {
    const Original = vnode.type;
    const props = vnode.props as Record<string, unknown>;
    (vnode as { type: unknown }).type = IslandWrapper;
    (vnode as { props: unknown }).props = { name, Original, props };
  }
  previousVnodeHook?.(vnode);
};

export interface IslandBundle {
  /** URL path the pages load the bundle from */
  path: string;
  js: Uint8Array;
}

async function sourceHash(root: URL, dirs: string[]): Promise<string> {
  const parts: string[] = [];
  for (const d of dirs) {
    const walk = async (dir: URL) => {
      for await (const e of Deno.readDir(dir)) {
        const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
        if (e.isDirectory) await walk(u);
        else if (/\.(tsx?|js)$/.test(e.name)) parts.push(u.pathname, await Deno.readTextFile(u));
      }
    };
    await walk(new URL(d, root)).catch(() => {});
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\0")));
  return encodeHex(new Uint8Array(digest)).slice(0, 16);
}

/** Load every island (registering it for wrapping) and build or reuse the browser bundle. */
export async function loadIslands(root: URL, cacheDir: string): Promise<IslandBundle> {
  const dir = new URL("islands/", root);
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !/\.tsx$/.test(e.name)) continue;
    const name = e.name.replace(/\.tsx$/, "");
    const mod = await import(new URL(e.name, dir).href);
    if (typeof mod.default !== "function") throw new Error(`islands/${e.name} must default-export a component`);
    islandNames.set(mod.default, name);
    names.push(name);
  }
  names.sort();
  const hash = await sourceHash(root, ["islands/", "shared/", "components/"]);
  const out = `${cacheDir}/islands-${hash}.js`;
  let js: Uint8Array;
  try {
    js = await Deno.readFile(out);
  } catch {
    js = await bundle(root, names, cacheDir, hash);
    const tmp = `${out}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, js);
    await Deno.rename(tmp, out); // atomic: parallel servers may bundle at once
  }
  return { path: `/_islands/islands-${hash}.js`, js };
}

async function bundle(root: URL, names: string[], cacheDir: string, hash: string): Promise<Uint8Array> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const entry = `${cacheDir}/entry-${hash}-${crypto.randomUUID().slice(0, 8)}.tsx`;
  const rel = (n: string) => new URL(`islands/${n}.tsx`, root).href;
  await Deno.writeTextFile(
    entry,
    [
      `import { h, hydrate } from "preact";`,
      ...names.map((n) => `import ${n} from ${JSON.stringify(rel(n))};`),
      `const islands: Record<string, any> = { ${names.join(", ")} };`,
      `for (const el of document.querySelectorAll("mf-island")) {`,
      `  const C = islands[(el as HTMLElement).dataset.island!];`,
      `  if (C) hydrate(h(C, JSON.parse((el as HTMLElement).dataset.props ?? "{}")), el);`,
      `}`,
    ].join("\n"),
  );
  const outFile = `${entry}.js`;
  try {
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--minify",
        "--config",
        new URL("deno.json", root).pathname,
        "-o",
        outFile,
        entry,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!p.success) throw new Error(`deno bundle failed:\n${new TextDecoder().decode(p.stderr)}`);
    return await Deno.readFile(outFile);
  } finally {
    await Deno.remove(entry).catch(() => {});
    await Deno.remove(outFile).catch(() => {});
  }
}
