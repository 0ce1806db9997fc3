/**
 * The libc calls the serial line needs, loaded once through Deno FFI.
 * Linux/glibc, x86_64 and aarch64 (both use the asm-generic ioctl numbers
 * and the kernel `struct termios2` layout used below).
 *
 * Blocking calls (poll, drain) are declared `nonblocking: true` so they run
 * on Deno's blocking thread pool and never stall the event loop.
 */

const symbols = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  ioctl_ptr: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
  ioctl_int: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  ioctl_int_nb: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32", nonblocking: true },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  posix_openpt: { parameters: ["i32"], result: "i32" },
  grantpt: { parameters: ["i32"], result: "i32" },
  unlockpt: { parameters: ["i32"], result: "i32" },
  ptsname_r: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  strerror_r: { parameters: ["i32", "buffer", "usize"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let lib: Deno.DynamicLibrary<typeof symbols>["symbols"] | undefined;

export function libc() {
  lib ??= Deno.dlopen("libc.so.6", symbols).symbols;
  return lib;
}

/** errno of the last synchronous call on this (the JS) thread. */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

export const O = { RDWR: 0o2, NOCTTY: 0o400, NONBLOCK: 0o4000, CLOEXEC: 0o2000000 } as const;
export const E = {
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
} as const;
export const errnoName = (n: number) => Object.entries(E).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

export const IOCTL = {
  TCGETS2: 0x802c542an,
  TCSETS2: 0x402c542bn,
  TCFLSH: 0x540bn,
  TCSBRK: 0x5409n,
  TIOCMGET: 0x5415n,
  TIOCMBIS: 0x5416n,
  TIOCMBIC: 0x5417n,
} as const;
export const TIOCM = { DTR: 0x002, RTS: 0x004 } as const;

/** Kernel struct termios2: 4×u32 flags, c_line, c_cc[19], pad, ispeed, ospeed = 44 bytes. */
export const TERMIOS2 = {
  size: 44,
  iflag: 0,
  oflag: 4,
  cflag: 8,
  lflag: 12,
  cc: 17,
  ispeed: 36,
  ospeed: 40,
  VTIME: 5,
  VMIN: 6,
} as const;

// octal flag values from <asm-generic/termbits.h>
export const IFLAG = {
  IGNBRK: 0o1,
  BRKINT: 0o2,
  IGNPAR: 0o4,
  PARMRK: 0o10,
  INPCK: 0o20,
  ISTRIP: 0o40,
  INLCR: 0o100,
  IGNCR: 0o200,
  ICRNL: 0o400,
  IUCLC: 0o1000,
  IXON: 0o2000,
  IXANY: 0o4000,
  IXOFF: 0o10000,
} as const;
export const OFLAG = { OPOST: 0o1 } as const;
export const LFLAG = {
  ISIG: 0o1,
  ICANON: 0o2,
  ECHO: 0o10,
  ECHOE: 0o20,
  ECHOK: 0o40,
  ECHONL: 0o100,
  IEXTEN: 0o100000,
} as const;
export const CFLAG = {
  CBAUD: 0o10017,
  BOTHER: 0o10000,
  CSIZE: 0o60,
  CS7: 0o40,
  CS8: 0o60,
  CSTOPB: 0o100,
  CREAD: 0o200,
  PARENB: 0o400,
  PARODD: 0o1000,
  HUPCL: 0o2000,
  CLOCAL: 0o4000,
  CIBAUD: 0o2003600000,
  CRTSCTS: 0o20000000000,
} as const;
