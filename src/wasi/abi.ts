/**
 * The records of the WASI preview1 ABI, each read or written in one place (layouts as the witx
 * files define them, little-endian), so that the calls in preview1.ts say what they do and not
 * where the bytes go. Every offset of a record lives here.
 */

/** `iovec` / `ciovec`: a buffer in the wasm memory. */
export const Iovec = {
  size: 8,
  read(view: DataView, at: number): { pointer: number; length: number } {
    return { pointer: view.getUint32(at, true), length: view.getUint32(at + 4, true) };
  },
};

export interface FilestatValue {
  dev: bigint;
  ino: bigint;
  filetype: number;
  nlink: bigint;
  size: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** `filestat`: what fd_filestat_get and path_filestat_get answer. */
export const Filestat = {
  size: 64,
  write(view: DataView, at: number, value: FilestatValue): void {
    view.setBigUint64(at, value.dev, true);
    view.setBigUint64(at + 8, value.ino, true);
    view.setUint8(at + 16, value.filetype);
    view.setBigUint64(at + 24, value.nlink, true);
    view.setBigUint64(at + 32, value.size, true);
    view.setBigUint64(at + 40, value.atimeNs, true);
    view.setBigUint64(at + 48, value.mtimeNs, true);
    view.setBigUint64(at + 56, value.ctimeNs, true);
  },
};

/** `fdstat`: a descriptor's type, flags and rights (fd_fdstat_get). */
export const Fdstat = {
  size: 24,
  write(view: DataView, at: number, value: { filetype: number; fdflags: number; rightsBase: number; rightsInheriting: number }): void {
    new Uint8Array(view.buffer, view.byteOffset + at, 24).fill(0);
    view.setUint8(at, value.filetype);
    view.setUint16(at + 2, value.fdflags, true);
    view.setBigUint64(at + 8, BigInt(value.rightsBase), true);
    view.setBigUint64(at + 16, BigInt(value.rightsInheriting), true);
  },
};

/** `prestat` of a directory preopen: its tag (0, a directory) and the length of its name. */
export const Prestat = {
  size: 8,
  write(view: DataView, at: number, nameLength: number): void {
    view.setUint32(at, 0, true);
    view.setUint32(at + 4, nameLength, true);
  },
};

/** `dirent`: the header before each name in fd_readdir's buffer. */
export const Dirent = {
  size: 24,
  /** The header and the name, as the bytes fd_readdir copies (possibly cut) into the buffer. */
  encode(value: { next: bigint; ino: bigint; name: Uint8Array; filetype: number }): Uint8Array {
    const record = new Uint8Array(24 + value.name.length);
    const view = new DataView(record.buffer);
    view.setBigUint64(0, value.next, true);
    view.setBigUint64(8, value.ino, true);
    view.setUint32(16, value.name.length, true);
    view.setUint8(20, value.filetype);
    record.set(value.name, 24);
    return record;
  },
};

/** `subscription`: one thing poll_oneoff waits for: a clock (type 0), or a descriptor (`fd`). */
export interface SubscriptionValue {
  userdata: bigint;
  type: number;
  /** For a clock subscription. */
  clock?: { id: number; timeout: bigint; absolute: boolean };
  /** For a descriptor subscription (FD_READ, FD_WRITE). */
  fd: number;
}

/** `subclockflags`: the timeout is an absolute time. */
const SUBCLOCKFLAG_ABSTIME = 1;

export const Subscription = {
  size: 48,
  read(view: DataView, at: number): SubscriptionValue {
    const type = view.getUint8(at + 8);
    const value: SubscriptionValue = { userdata: view.getBigUint64(at, true), type, fd: view.getUint32(at + 16, true) };
    if (type === 0) {
      value.clock = {
        id: view.getUint32(at + 16, true),
        timeout: view.getBigUint64(at + 24, true),
        absolute: (view.getUint16(at + 40, true) & SUBCLOCKFLAG_ABSTIME) !== 0,
      };
    }
    return value;
  },
};

export interface EventValue {
  userdata: bigint;
  error: number;
  type: number;
  nbytes: bigint;
}

/** `event`: one thing poll_oneoff answers. */
export const Event = {
  size: 32,
  write(view: DataView, at: number, value: EventValue): void {
    new Uint8Array(view.buffer, view.byteOffset + at, 32).fill(0);
    view.setBigUint64(at, value.userdata, true);
    view.setUint16(at + 8, value.error, true);
    view.setUint8(at + 10, value.type);
    view.setBigUint64(at + 16, value.nbytes, true);
  },
};
