/**
 * The descriptor table every thread of a program shares: wasi fd -> host fd, file type, flags,
 * preopen, and for directories their path below the preopen. It lives in a SharedArrayBuffer, and
 * entries change state with compare-and-swap, so an fd opened by one thread is usable by all and
 * one closed by one thread is gone for all (as in POSIX). Host descriptors are process-wide in
 * Node, so any worker may use the host fd of any entry.
 *
 * Entry layout (Int32 words): [state, hostFd, filetype, fdflags, preopen, root, pathLength, tty,
 * position (i64, 8-byte aligned)]. Paths live beside the entries, `PATH_BYTES` bytes each, as UTF-8
 * relative to the root preopen's directory.
 */

const ENTRY_WORDS = 10;
const Field = { State: 0, HostFd: 1, Filetype: 2, Fdflags: 3, Preopen: 4, Root: 5, PathLength: 6, Tty: 7, Position: 8 } as const;
const EntryState = { Free: 0, Busy: 1, Open: 2 } as const;

export const MAX_FDS = 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
export const PATH_BYTES = 1024;

export interface FdEntry {
  hostFd: number;
  filetype: number;
  fdflags: number;
  /** The index of the preopen this entry is; -1 for everything else. */
  preopen: number;
  /** The preopen whose directory `path` is relative to; -1 for stdio. */
  root: number;
  /** Where the entry was opened, below its root preopen ('' for a preopen itself). */
  path: string;
  /** A terminal: it reports no seek/tell rights. */
  tty?: boolean;
}

/** An entry as the I/O calls need it: no path, which is decoded only for path calls (`path(fd)`). */
export type FdInfo = Omit<FdEntry, 'path'>;

export class FdTable {
  private readonly words: Int32Array;
  private readonly positions: BigInt64Array;
  private readonly paths: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, MAX_FDS * ENTRY_WORDS);
    this.positions = new BigInt64Array(buffer, 0, (MAX_FDS * ENTRY_WORDS) / 2);
    this.paths = new Uint8Array(buffer, MAX_FDS * ENTRY_WORDS * 4, MAX_FDS * PATH_BYTES);
  }

  static create(): FdTable {
    return new FdTable(new SharedArrayBuffer(MAX_FDS * (ENTRY_WORDS * 4 + PATH_BYTES)));
  }

  private base(fd: number): number {
    return fd * ENTRY_WORDS;
  }

  private valid(fd: number): boolean {
    return Number.isInteger(fd) && fd >= 0 && fd < MAX_FDS;
  }

  info(fd: number): FdInfo | undefined {
    if (!this.valid(fd)) return undefined;
    const base = this.base(fd);
    if (Atomics.load(this.words, base + Field.State) !== EntryState.Open) return undefined;
    return {
      hostFd: this.words[base + Field.HostFd]!,
      filetype: this.words[base + Field.Filetype]!,
      fdflags: this.words[base + Field.Fdflags]!,
      preopen: this.words[base + Field.Preopen]!,
      root: this.words[base + Field.Root]!,
      tty: this.words[base + Field.Tty] === 1,
    };
  }

  get(fd: number): FdEntry | undefined {
    const info = this.info(fd);
    if (!info) return undefined;
    const length = this.words[this.base(fd) + Field.PathLength]!;
    const start = fd * PATH_BYTES;
    return { ...info, path: length === 0 ? '' : decoder.decode(this.paths.slice(start, start + length)) };
  }

  private write(fd: number, entry: FdEntry): void {
    const base = this.base(fd);
    const path = encoder.encode(entry.path);
    if (path.length > PATH_BYTES) throw new RangeError('path too long for the descriptor table');
    this.words[base + Field.HostFd] = entry.hostFd;
    this.words[base + Field.Filetype] = entry.filetype;
    this.words[base + Field.Fdflags] = entry.fdflags;
    this.words[base + Field.Preopen] = entry.preopen;
    this.words[base + Field.Root] = entry.root;
    this.words[base + Field.Tty] = entry.tty ? 1 : 0;
    this.words[base + Field.PathLength] = path.length;
    this.paths.set(path, fd * PATH_BYTES);
    Atomics.store(this.positions, (base + Field.Position) / 2, 0n);
  }

  /** Places `entry` at exactly `fd` (stdio and preopens, at start-up). */
  install(fd: number, entry: FdEntry): void {
    this.write(fd, entry);
    Atomics.store(this.words, this.base(fd) + Field.State, EntryState.Open);
  }

  /** Takes the lowest free fd from `from` on; returns -1 when the table is full. */
  allocate(entry: FdEntry, from = 3): number {
    for (let fd = from; fd < MAX_FDS; fd++) {
      const state = this.base(fd) + Field.State;
      if (Atomics.compareExchange(this.words, state, EntryState.Free, EntryState.Busy) === EntryState.Free) {
        this.write(fd, entry);
        Atomics.store(this.words, state, EntryState.Open);
        return fd;
      }
    }
    return -1;
  }

  /** Removes `fd` and returns what it held, or undefined when it was not open (EBADF). */
  remove(fd: number): FdInfo | undefined {
    if (!this.valid(fd)) return undefined;
    const state = this.base(fd) + Field.State;
    const entry = this.info(fd);
    if (!entry || Atomics.compareExchange(this.words, state, EntryState.Open, EntryState.Busy) !== EntryState.Open) return undefined;
    Atomics.store(this.words, state, EntryState.Free);
    return entry;
  }

  /** Moves `from` onto `to`, which must be open (WASI's fd_renumber); returns the entry `to` held. */
  renumber(from: number, to: number): FdInfo | undefined {
    const moving = this.get(from);
    const replaced = this.info(to);
    if (!moving || !replaced) return undefined;
    const toState = this.base(to) + Field.State;
    if (Atomics.compareExchange(this.words, toState, EntryState.Open, EntryState.Busy) !== EntryState.Open) return undefined;
    const position = this.position(from);
    if (!this.remove(from)) {
      Atomics.store(this.words, toState, EntryState.Open);
      return undefined;
    }
    this.write(to, moving);
    this.setPosition(to, position);
    Atomics.store(this.words, toState, EntryState.Open);
    return replaced;
  }

  setFdflags(fd: number, fdflags: number): void {
    Atomics.store(this.words, this.base(fd) + Field.Fdflags, fdflags);
  }

  /** The file offset, kept here because Node has no lseek: reads and writes are positional. */
  position(fd: number): bigint {
    return Atomics.load(this.positions, (this.base(fd) + Field.Position) / 2);
  }

  setPosition(fd: number, position: bigint): void {
    Atomics.store(this.positions, (this.base(fd) + Field.Position) / 2, position);
  }

  advance(fd: number, by: number): void {
    Atomics.add(this.positions, (this.base(fd) + Field.Position) / 2, BigInt(by));
  }
}
