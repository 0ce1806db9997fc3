/** Metering-chip codecs (UART), register protocols, the chip registry and calibration math. */
export * from "./bl0942.ts";
export * from "./cse7766.ts";
export * from "./register.ts";
export * from "./rn8209.ts";
export * from "./ht7017.ts";
export * from "./bl6552.ts";
export * from "./calibration.ts";
export * from "./bl0940.ts";
export * from "./registry.ts";
