/**
 * BK7231N/T UART bootloader codec: request encoders, a resynchronising
 * response scanner with typed payload parsers, CRC-32/JAMCRC and chip data.
 * Pure code; decoders throw CodecError (shared/errors.ts) with codes BK_*.
 * Protocol facts: ../shared/reference/bk7231-bootloader.md.
 */
export * from "./crc32.ts";
export * from "./requests.ts";
export * from "./responses.ts";
export * from "./chips.ts";
