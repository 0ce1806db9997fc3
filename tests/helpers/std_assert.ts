// @ts-types="./std_assert.d.ts"
export * from "../../node_modules/deno-std/assert/mod.js";
