/** WASI preview1 (`wasi_snapshot_preview1`) numbers, as the witx files define them. */

import type { BigIntStats, Stats } from 'node:fs';

// biome-ignore format: a table of the witx numbers, kept compact
export const Errno = {
  SUCCESS: 0, '2BIG': 1, ACCES: 2, ADDRINUSE: 3, ADDRNOTAVAIL: 4, AFNOSUPPORT: 5, AGAIN: 6, ALREADY: 7, BADF: 8,
  BADMSG: 9, BUSY: 10, CANCELED: 11, CHILD: 12, CONNABORTED: 13, CONNREFUSED: 14, CONNRESET: 15, DEADLK: 16,
  DESTADDRREQ: 17, DOM: 18, DQUOT: 19, EXIST: 20, FAULT: 21, FBIG: 22, HOSTUNREACH: 23, IDRM: 24, ILSEQ: 25,
  INPROGRESS: 26, INTR: 27, INVAL: 28, IO: 29, ISCONN: 30, ISDIR: 31, LOOP: 32, MFILE: 33, MLINK: 34, MSGSIZE: 35,
  MULTIHOP: 36, NAMETOOLONG: 37, NETDOWN: 38, NETRESET: 39, NETUNREACH: 40, NFILE: 41, NOBUFS: 42, NODEV: 43,
  NOENT: 44, NOEXEC: 45, NOLCK: 46, NOLINK: 47, NOMEM: 48, NOMSG: 49, NOPROTOOPT: 50, NOSPC: 51, NOSYS: 52,
  NOTCONN: 53, NOTDIR: 54, NOTEMPTY: 55, NOTRECOVERABLE: 56, NOTSOCK: 57, NOTSUP: 58, NOTTY: 59, NXIO: 60,
  OVERFLOW: 61, OWNERDEAD: 62, PERM: 63, PIPE: 64, PROTO: 65, PROTONOSUPPORT: 66, PROTOTYPE: 67, RANGE: 68,
  ROFS: 69, SPIPE: 70, SRCH: 71, STIME: 72, TXTBSY: 73, XDEV: 74, NOTCAPABLE: 76,
} as const;

/** The WASI errno for a Node.js system error (`error.code` is `'ENOENT'` and the like). */
export function errnoOf(error: unknown): number {
  // A view of the wasm memory out of its bounds: a pointer or length the program passed.
  if (error instanceof RangeError) return Errno.FAULT;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('E')) {
    const name = code.slice(1) as keyof typeof Errno;
    if (name in Errno) return Errno[name];
    if (code === 'EWOULDBLOCK') return Errno.AGAIN;
    if (code === 'EOPNOTSUPP') return Errno.NOTSUP;
  }
  return Errno.IO;
}

// biome-ignore format: a table of the witx numbers, kept compact
export const Filetype = {
  UNKNOWN: 0, BLOCK_DEVICE: 1, CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4, SOCKET_DGRAM: 5, SOCKET_STREAM: 6,
  SYMBOLIC_LINK: 7,
} as const;

export const Whence = { SET: 0, CUR: 1, END: 2 } as const;
export const Oflags = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
export const Fdflags = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;
export const Fstflags = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;
export const LOOKUP_SYMLINK_FOLLOW = 1;
export const Clock = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME_ID: 2, THREAD_CPUTIME_ID: 3 } as const;
export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;

/**
 * Every right of preview1. Rights are 64-bit in the ABI but use only the low 30 bits, so they are
 * kept as numbers here (cheap to test on every call) and converted at the ABI's edge.
 */
export const ALL_RIGHTS = 0x3fffffff;
// biome-ignore format: a table of the witx numbers, kept compact
export const Rights = {
  FD_DATASYNC: 1 << 0, FD_READ: 1 << 1, FD_SEEK: 1 << 2, FD_FDSTAT_SET_FLAGS: 1 << 3, FD_SYNC: 1 << 4,
  FD_TELL: 1 << 5, FD_WRITE: 1 << 6, FD_ADVISE: 1 << 7, FD_ALLOCATE: 1 << 8, PATH_CREATE_DIRECTORY: 1 << 9,
  PATH_CREATE_FILE: 1 << 10, PATH_LINK_SOURCE: 1 << 11, PATH_LINK_TARGET: 1 << 12, PATH_OPEN: 1 << 13,
  FD_READDIR: 1 << 14, PATH_READLINK: 1 << 15, PATH_RENAME_SOURCE: 1 << 16, PATH_RENAME_TARGET: 1 << 17,
  PATH_FILESTAT_GET: 1 << 18, PATH_FILESTAT_SET_SIZE: 1 << 19, PATH_FILESTAT_SET_TIMES: 1 << 20,
  FD_FILESTAT_GET: 1 << 21, FD_FILESTAT_SET_SIZE: 1 << 22, FD_FILESTAT_SET_TIMES: 1 << 23, PATH_SYMLINK: 1 << 24,
  PATH_REMOVE_DIRECTORY: 1 << 25, PATH_UNLINK_FILE: 1 << 26, POLL_FD_READWRITE: 1 << 27, SOCK_SHUTDOWN: 1 << 28,
  SOCK_ACCEPT: 1 << 29,
} as const;

const R = Rights;
/** The most a descriptor of each kind can have (the same sets as node:wasi's uvwasi). */
// biome-ignore format: a table of the witx numbers, kept compact
export const RightsOf = {
  regularFile:
    R.FD_DATASYNC | R.FD_READ | R.FD_SEEK | R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_TELL | R.FD_WRITE | R.FD_ADVISE |
    R.FD_ALLOCATE | R.FD_FILESTAT_GET | R.FD_FILESTAT_SET_SIZE | R.FD_FILESTAT_SET_TIMES | R.POLL_FD_READWRITE,
  directory:
    R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_ADVISE | R.PATH_CREATE_DIRECTORY | R.PATH_CREATE_FILE | R.PATH_LINK_SOURCE |
    R.PATH_LINK_TARGET | R.PATH_OPEN | R.FD_READDIR | R.PATH_READLINK | R.PATH_RENAME_SOURCE | R.PATH_RENAME_TARGET |
    R.PATH_FILESTAT_GET | R.PATH_FILESTAT_SET_SIZE | R.PATH_FILESTAT_SET_TIMES | R.FD_FILESTAT_GET |
    R.FD_FILESTAT_SET_TIMES | R.PATH_SYMLINK | R.PATH_UNLINK_FILE | R.PATH_REMOVE_DIRECTORY | R.POLL_FD_READWRITE,
  /** Terminals, pipes, sockets and other devices: everything but seeking (wasi-libc's isatty() reads it). */
  stream: ALL_RIGHTS & ~(R.FD_SEEK | R.FD_TELL),
} as const;
/** What a directory lets descriptors opened below it have. */
export const DIRECTORY_INHERITING = RightsOf.directory | RightsOf.regularFile;

/** A 64-bit rights value from the program as a number, or -1 when it has bits no right has. */
export function rightsFromAbi(rights: bigint): number {
  return rights >= 0n && rights <= BigInt(ALL_RIGHTS) ? Number(rights) : -1;
}

/** The WASI filetype of what `stats` describe. */
export function filetypeOf(stats: Stats | BigIntStats): number {
  if (stats.isFile()) return Filetype.REGULAR_FILE;
  if (stats.isDirectory()) return Filetype.DIRECTORY;
  if (stats.isCharacterDevice()) return Filetype.CHARACTER_DEVICE;
  if (stats.isBlockDevice()) return Filetype.BLOCK_DEVICE;
  if (stats.isSymbolicLink()) return Filetype.SYMBOLIC_LINK;
  if (stats.isSocket() || stats.isFIFO()) return Filetype.SOCKET_STREAM;
  return Filetype.UNKNOWN;
}
