/**
 * `user_param_key`: Tuya's per-model settings (pins, levels, baud, module) stored as
 * unquoted pseudo-JSON, e.g. `{Jsonver:1.1.8,module:CB2S,rl1_pin:26,rl1_lv:1,crc:101,}`.
 * Keys and values are bare tokens (a value may hold ':' or spaces), objects and lists
 * may nest, a trailing comma is normal, and some firmwares quote parts of it. Values
 * stay strings: the reader decides what is a number.
 */
import { CodecError } from "../errors.ts";

export type UpkValue = string | UpkValue[] | { [key: string]: UpkValue };

export function parseUserParamKey(text: string): Record<string, UpkValue> {
  let i = 0;
  const s = text.trim();
  const fail = (why: string): never => {
    throw new CodecError("bad_user_param_key", `user_param_key: ${why} at character ${i}`);
  };
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const token = (stops: string): string => {
    ws();
    if (s[i] === '"') {
      const end = s.indexOf('"', i + 1);
      if (end < 0) fail("unterminated quote");
      const t = s.slice(i + 1, end);
      i = end + 1;
      return t;
    }
    const start = i;
    while (i < s.length && !stops.includes(s[i])) i++;
    return s.slice(start, i).trim();
  };
  const value = (): UpkValue => {
    ws();
    if (s[i] === "{") return object();
    if (s[i] === "[") return list();
    return token(",}]");
  };
  const list = (): UpkValue[] => {
    i++; // [
    const out: UpkValue[] = [];
    for (;;) {
      ws();
      if (s[i] === "]") {
        i++;
        return out;
      }
      if (i >= s.length) fail("unterminated list");
      out.push(value());
      ws();
      if (s[i] === ",") i++;
      else if (s[i] !== "]") fail("expected , or ]");
    }
  };
  const object = (): { [key: string]: UpkValue } => {
    i++; // {
    const out: { [key: string]: UpkValue } = {};
    for (;;) {
      ws();
      if (s[i] === "}") {
        i++;
        return out;
      }
      if (i >= s.length) fail("unterminated object");
      const key = token(":,}");
      if (s[i] !== ":") {
        // a bare word with no value (seen as damage); skip it
        if (s[i] === ",") i++;
        continue;
      }
      i++; // :
      const v = value();
      if (key) out[key] = v;
      ws();
      if (s[i] === ",") i++;
      else if (s[i] !== "}") fail("expected , or }");
    }
  };
  ws();
  if (s[i] !== "{") fail("does not start with {");
  return object();
}
