/**
 * `deno task bench <name> [args]`: runs bench/<name>.ts, whose default export
 * takes the remaining args. Benchmarks print figures and ratios; they never
 * assert (speed targets live here, not in tests).
 */
const names = [...Deno.readDirSync(new URL(".", import.meta.url))]
  .filter((e) => e.isFile && e.name.endsWith(".ts") && e.name !== "main.ts")
  .map((e) => e.name.replace(/\.ts$/, ""))
  .sort();
const [name, ...rest] = Deno.args;
if (!name || !names.includes(name)) {
  console.error(`usage: deno task bench <${names.join("|")}> [args]`);
  Deno.exit(2);
}
const mod = await import(`./${name}.ts`);
await mod.default(rest);
