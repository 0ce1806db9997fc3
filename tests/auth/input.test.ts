/**
 * Input hardening over every state-changing route the app registers (enumerated
 * at test time): as an admin, malformed, mistyped and oversized bodies get a 4xx
 * with a reason, never a 500 (which would mean an unvalidated body reached code
 * that trusted it); and nothing from the URL reaches the filesystem.
 */
import { assert } from "@std/assert";
import { startTestServer } from "../helpers/server.ts";
import { fetchAs, testSession } from "../helpers/auth.ts";

const BODIES: [string, string, BodyInit][] = [
  ["not json", "application/json", "{not json"],
  ["wrong types", "application/json", JSON.stringify({ id: 1, name: [], topics: "x", size: "big", rows: {}, role: 7 })],
  ["deep nesting", "application/json", "[".repeat(5000) + "]".repeat(5000)],
  ["array", "application/json", JSON.stringify(Array(2000).fill({ a: 1 }))],
  ["binary", "application/octet-stream", new Uint8Array(1000).fill(0xff)],
  ["form junk", "application/x-www-form-urlencoded", "a=%ZZ&&=&b=" + "x".repeat(1000)],
  ["empty", "application/json", ""],
];

Deno.test("every state-changing route answers malformed bodies with 4xx, never 500; URL paths never reach the filesystem", async () => {
  const srv = await startTestServer();
  try {
    const routes = srv.server.app.routes.filter((r) => !["GET", "HEAD", "ALL"].includes(r.method));
    const seen = new Set<string>();
    const failures: string[] = [];
    let requests = 0;
    for (const r of routes) {
      const path = r.path.replace(
        /:(\w+)(\{[^}]*\})?/g,
        (_m, n) => (n === "agentId" ? "bench-in" : n === "sha" ? "0".repeat(64) : "x"),
      );
      const key = `${r.method} ${path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      for (const [what, type, body] of BODIES) {
        const s = await testSession(srv.kv, "admin"); // fresh: POST /logout ends the one it gets
        const res = await fetchAs(srv.url, s, path, { method: r.method, headers: { "content-type": type }, body });
        requests++;
        const text = await res.text();
        if (res.status >= 500) failures.push(`${key} with ${what}: ${res.status} ${text.slice(0, 120)}`);
      }
    }
    // path tricks against the one route that reads a file named in the URL
    for (
      const p of [
        "/static/..%2Fdeno.json",
        "/static/%2e%2e/deno.json",
        "/static/..%2F..%2Fetc%2Fpasswd",
        "/static/styles.css%00.js",
      ]
    ) {
      const res = await fetch(srv.url + p);
      const text = await res.text();
      requests++;
      assert(!text.includes("nodeModulesDir") && !text.includes("root:"), `${p} served a file outside static/`);
    }
    console.log(
      `input: ${seen.size} state-changing routes × ${BODIES.length} bad bodies, ${requests} requests, ${failures.length} server errors`,
    );
    assert(failures.length === 0, failures.join("\n"));
  } finally {
    await srv.close();
  }
});
