// The one CBOR import. cbor-x's "node" entry loads cbor-extract, a native addon built for
// Node's ABI that crashes Deno; deno.json maps "cbor-x" to the pure-JS build instead.
// @ts-types="../node_modules/cbor-x/index.d.ts"
export { decode, Decoder, encode, Encoder } from "cbor-x";
