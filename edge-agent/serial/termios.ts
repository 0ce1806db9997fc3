/**
 * Raw-mode line settings through the kernel's termios2 ioctls (TCGETS2 /
 * TCSETS2), so any baud rate (921600, 1500000, 2000000, odd ones) goes
 * through BOTHER without depending on glibc's speed_t encoding.
 */
import { CFLAG, errno, IFLAG, IOCTL, LFLAG, libc, OFLAG, TERMIOS2 } from "./libc.ts";
import { ioError, SerialError } from "./errors.ts";

export interface LineSettings {
  baud: number;
  dataBits?: 7 | 8;
  parity?: "none" | "even" | "odd";
  stopBits?: 1 | 2;
}

export function applyLineSettings(fd: number, s: LineSettings, path: string) {
  if (!Number.isInteger(s.baud) || s.baud < 50 || s.baud > 4_000_000) {
    throw new SerialError("BAUD", `${path}: unsupported baud ${s.baud}`);
  }
  const t = new Uint8Array(TERMIOS2.size);
  const v = new DataView(t.buffer);
  if (libc().ioctl_ptr(fd, IOCTL.TCGETS2, t) < 0) throw ioError("TCGETS2", errno(), path);

  let iflag = v.getUint32(TERMIOS2.iflag, true);
  let oflag = v.getUint32(TERMIOS2.oflag, true);
  let lflag = v.getUint32(TERMIOS2.lflag, true);
  let cflag = v.getUint32(TERMIOS2.cflag, true);
  // cfmakeraw, plus no software flow control: the bootloader's binary frames contain 0x11/0x13
  iflag &= ~(IFLAG.IGNBRK | IFLAG.BRKINT | IFLAG.PARMRK | IFLAG.ISTRIP | IFLAG.INLCR | IFLAG.IGNCR |
    IFLAG.ICRNL | IFLAG.IXON | IFLAG.IXOFF | IFLAG.IXANY | IFLAG.IUCLC | IFLAG.INPCK);
  oflag &= ~OFLAG.OPOST;
  lflag &= ~(LFLAG.ECHO | LFLAG.ECHONL | LFLAG.ECHOE | LFLAG.ECHOK | LFLAG.ICANON | LFLAG.ISIG |
    LFLAG.IEXTEN);
  // no hardware flow control (RTS is our reset line), no hangup-on-close games
  cflag &= ~(CFLAG.CSIZE | CFLAG.PARENB | CFLAG.PARODD | CFLAG.CSTOPB | CFLAG.CRTSCTS | CFLAG.CBAUD |
    CFLAG.CIBAUD | CFLAG.HUPCL);
  cflag |= (s.dataBits === 7 ? CFLAG.CS7 : CFLAG.CS8) | CFLAG.CREAD | CFLAG.CLOCAL | CFLAG.BOTHER;
  if (s.parity === "even" || s.parity === "odd") {
    cflag |= CFLAG.PARENB;
    iflag |= IFLAG.INPCK;
    if (s.parity === "odd") cflag |= CFLAG.PARODD;
  }
  if (s.stopBits === 2) cflag |= CFLAG.CSTOPB;

  v.setUint32(TERMIOS2.iflag, iflag >>> 0, true);
  v.setUint32(TERMIOS2.oflag, oflag >>> 0, true);
  v.setUint32(TERMIOS2.lflag, lflag >>> 0, true);
  v.setUint32(TERMIOS2.cflag, cflag >>> 0, true);
  t[TERMIOS2.cc + TERMIOS2.VMIN] = 1;
  t[TERMIOS2.cc + TERMIOS2.VTIME] = 0;
  v.setUint32(TERMIOS2.ispeed, s.baud, true);
  v.setUint32(TERMIOS2.ospeed, s.baud, true);
  if (libc().ioctl_ptr(fd, IOCTL.TCSETS2, t) < 0) {
    const e = errno();
    if (e === 22) throw new SerialError("BAUD", `${path}: driver refused ${s.baud} baud`);
    throw ioError("TCSETS2", e, path);
  }
  // Some drivers round to the nearest rate they can do; a big miss would look like garbage on the line.
  const back = new Uint8Array(TERMIOS2.size);
  if (libc().ioctl_ptr(fd, IOCTL.TCGETS2, back) === 0) {
    const got = new DataView(back.buffer).getUint32(TERMIOS2.ospeed, true);
    if (got !== 0 && Math.abs(got - s.baud) / s.baud > 0.03) {
      throw new SerialError("BAUD", `${path}: asked for ${s.baud} baud, adapter set ${got}`);
    }
  }
}
