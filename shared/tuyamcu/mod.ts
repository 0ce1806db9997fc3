/** TuyaMCU codec: frames, datapoints, RAW power decoders and message builders. */
export * from "./frame.ts";
export * from "./dp.ts";
export * from "./raw_power.ts";
export * from "./messages.ts";
