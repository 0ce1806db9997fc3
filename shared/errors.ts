/**
 * One error type for every byte-level decoder in shared/ (telemetry CBOR,
 * TuyaMCU, chip packets, bootloader responses, RBL headers, ...).
 * `code` is stable and machine-readable so the server can count rejects by
 * cause; `message` is for people.
 */
export class CodecError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "CodecError";
  }
}
