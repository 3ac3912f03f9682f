/**
 * The descriptor table every thread of a program shares. It lives in a SharedArrayBuffer and all of
 * its state changes by compare-and-swap, so an fd opened by one thread is usable by all and one
 * closed by one thread is gone for all (as in POSIX).
 *
 * Two levels, like a kernel's fd table and its open file descriptions:
 * - `map[fd]` names the handle a wasi fd refers to (0: free, -1: being allocated, h + 1: handle h);
 * - a handle holds the host fd, file type, flags, file offset, and a reference word
 *   `users << 2 | state`.
 *
 * Invariant: a host fd is used only by a thread that holds a reference to its handle (`acquire` ...
 * `release`), and a handle's host fd is given back for closing only when its state is Closing and
 * its last user has left. So no call can ever use a host fd number after its descriptor was closed
 * (by then the number may belong to another program's file): a close waits for the calls in flight
 * on that descriptor, not the other way round. `fd_renumber` moves a handle between fd numbers
 * without touching calls in flight on it.
 *
 * Handle layout (Int32 words): [ref, hostFd, filetype, fdflags, preopen, tty, owned, rights base,
 * position (i64, 8-byte aligned), rights inheriting, unused].
 */

const HANDLE_WORDS = 12;
const Field = { Ref: 0, HostFd: 1, Filetype: 2, Fdflags: 3, Preopen: 4, Tty: 5, Owned: 6, RightsBase: 7, Position: 8, RightsInheriting: 10 } as const;
const State = { Free: 0, Busy: 1, Open: 2, Closing: 3 } as const;
const STATE_BITS = 3;
const ONE_USER = 4;

const MAP_FREE = 0;
const MAP_RESERVED = -1;

export const MAX_FDS = 1024;
const MAX_HANDLES = MAX_FDS;
const TABLE_BYTES = (MAX_HANDLES * HANDLE_WORDS + MAX_FDS) * 4;

/** Buffers of ended programs' tables, for the next programs of this process (see `recycle`). */
const spareBuffers: SharedArrayBuffer[] = [];
const MAX_SPARE_BUFFERS = 16;

export interface FdEntry {
  hostFd: number;
  filetype: number;
  fdflags: number;
  /** The index of the preopen this entry is; -1 for everything else. */
  preopen: number;
  /** A terminal: it reports no seek/tell rights. */
  tty: boolean;
  /** Opened by the library for this program, so closed by it; false for the caller's stdio fds. */
  owned: boolean;
  /** What calls on it may do (WASI rights, see constants.ts); `fd_fdstat_set_rights` can only narrow them. */
  rightsBase: number;
  /** The most that descriptors opened below it (a directory) may have. */
  rightsInheriting: number;
}

/** An acquired handle: its fields may be read, and its host fd used, until `release`. */
export interface Handle extends FdEntry {
  readonly index: number;
}

/** A host fd whose last descriptor has gone; the program's owner closes it if it opened it. */
export interface Released {
  hostFd: number;
  owned: boolean;
}

/** Called with a host fd once no descriptor and no call refers to it any more. */
export type CloseHost = (released: Released) => void;

export class FdTable {
  private readonly map: Int32Array;
  private readonly words: Int32Array;
  private readonly positions: BigInt64Array;
  private recycled = false;

  /** `closeHost` is called (in the thread that let go last) for each host fd that nothing uses any more. */
  constructor(
    readonly buffer: SharedArrayBuffer,
    private readonly closeHost: CloseHost,
  ) {
    this.words = new Int32Array(buffer, 0, MAX_HANDLES * HANDLE_WORDS);
    this.positions = new BigInt64Array(buffer, 0, (MAX_HANDLES * HANDLE_WORDS) / 2);
    this.map = new Int32Array(buffer, MAX_HANDLES * HANDLE_WORDS * 4, MAX_FDS);
  }

  /** A table over a recycled buffer or a new one, or over `buffer`, which `keep` emptied (a runtime's next run on the same workers). */
  static create(closeHost: CloseHost, buffer?: SharedArrayBuffer): FdTable {
    return new FdTable(buffer ?? spareBuffers.pop() ?? new SharedArrayBuffer(TABLE_BYTES), closeHost);
  }

  /**
   * Empties the table for the next run of the same workers (their threads keep the buffer), once no
   * thread of this one can touch it: every descriptor is gone, as in a new table.
   */
  keep(): void {
    this.recycled = true;
    new Int32Array(this.buffer).fill(0);
  }

  /**
   * Gives the table's buffer back for the next program, once no thread of this one can touch it
   * (all its workers have ended). A fresh 45 KB SharedArrayBuffer per program, shared with workers
   * that are then terminated, made the process's malloc heap grow by ~20 KB a program (measured:
   * 1,000 programs, +8-20 MB); reused buffers keep it flat.
   */
  recycle(): void {
    if (this.recycled) return;
    this.recycled = true;
    if (spareBuffers.length >= MAX_SPARE_BUFFERS) return;
    new Int32Array(this.buffer).fill(0);
    spareBuffers.push(this.buffer);
  }

  private base(handle: number): number {
    return handle * HANDLE_WORDS;
  }

  private validFd(fd: number): boolean {
    return Number.isInteger(fd) && fd >= 0 && fd < MAX_FDS;
  }

  /**
   * Takes a reference to the handle behind `fd`, or returns undefined (EBADF) when `fd` is not open.
   * The caller must `release` it; until then the host fd stays open and the fields stay valid.
   */
  acquire(fd: number): Handle | undefined {
    if (!this.validFd(fd)) return undefined;
    for (;;) {
      const mapped = Atomics.load(this.map, fd);
      if (mapped <= 0) return undefined;
      const index = mapped - 1;
      const ref = this.base(index) + Field.Ref;
      let word = Atomics.load(this.words, ref);
      let acquired = false;
      while ((word & STATE_BITS) === State.Open) {
        const seen = Atomics.compareExchange(this.words, ref, word, word + ONE_USER);
        if (seen === word) {
          acquired = true;
          break;
        }
        word = seen;
      }
      if (!acquired) {
        // Closing (or already reused): `fd` no longer names it, unless it was renumbered onto meanwhile.
        if (Atomics.load(this.map, fd) === mapped) return undefined;
        continue;
      }
      // The handle was open, but is it still the one `fd` names? (fd_close or fd_renumber in between.)
      if (Atomics.load(this.map, fd) !== mapped) {
        this.release(index);
        continue;
      }
      return this.read(index);
    }
  }

  private read(index: number): Handle {
    const base = this.base(index);
    const words = this.words;
    return {
      index,
      hostFd: words[base + Field.HostFd]!,
      filetype: words[base + Field.Filetype]!,
      fdflags: Atomics.load(words, base + Field.Fdflags),
      preopen: words[base + Field.Preopen]!,
      tty: words[base + Field.Tty] === 1,
      owned: words[base + Field.Owned] === 1,
      rightsBase: Atomics.load(words, base + Field.RightsBase),
      rightsInheriting: Atomics.load(words, base + Field.RightsInheriting),
    };
  }

  /** Drops a reference; the last user of a closed handle hands its host fd to `closeHost`. */
  release(index: number): void {
    const ref = this.base(index) + Field.Ref;
    const word = Atomics.sub(this.words, ref, ONE_USER) - ONE_USER;
    if (word === State.Closing) this.finalize(index);
  }

  /** A Closing handle without users: exactly one thread wins the exchange, frees it and closes its host fd. */
  private finalize(index: number): void {
    const ref = this.base(index) + Field.Ref;
    const { hostFd, owned } = this.read(index);
    if (Atomics.compareExchange(this.words, ref, State.Closing, State.Free) !== State.Closing) return;
    this.closeHost({ hostFd, owned });
  }

  /** True once the handle was closed: a call waiting on it (a FIFO read) should give up. */
  isClosing(index: number): boolean {
    return (Atomics.load(this.words, this.base(index) + Field.Ref) & STATE_BITS) === State.Closing;
  }

  private newHandle(entry: FdEntry): number {
    for (let index = 0; index < MAX_HANDLES; index++) {
      const ref = this.base(index) + Field.Ref;
      if (Atomics.compareExchange(this.words, ref, State.Free, State.Busy) !== State.Free) continue;
      const base = this.base(index);
      this.words[base + Field.HostFd] = entry.hostFd;
      this.words[base + Field.Filetype] = entry.filetype;
      Atomics.store(this.words, base + Field.Fdflags, entry.fdflags);
      this.words[base + Field.Preopen] = entry.preopen;
      this.words[base + Field.Tty] = entry.tty ? 1 : 0;
      this.words[base + Field.Owned] = entry.owned ? 1 : 0;
      Atomics.store(this.positions, (base + Field.Position) / 2, 0n);
      Atomics.store(this.words, base + Field.RightsBase, entry.rightsBase);
      Atomics.store(this.words, base + Field.RightsInheriting, entry.rightsInheriting);
      Atomics.store(this.words, ref, State.Open);
      return index;
    }
    return -1;
  }

  /** Places `entry` at exactly `fd` (stdio and preopens, at start-up, before any thread runs). */
  install(fd: number, entry: FdEntry): void {
    const index = this.newHandle(entry);
    if (index < 0 || Atomics.compareExchange(this.map, fd, MAP_FREE, index + 1) !== MAP_FREE) {
      throw new RangeError(`descriptor ${fd} cannot be installed`);
    }
  }

  /** Gives `entry` the lowest free fd from `from` on; returns -1 when the table is full. */
  open(entry: FdEntry, from = 3): number {
    for (let fd = from; fd < MAX_FDS; fd++) {
      if (Atomics.compareExchange(this.map, fd, MAP_FREE, MAP_RESERVED) !== MAP_FREE) continue;
      const index = this.newHandle(entry);
      if (index < 0) {
        Atomics.store(this.map, fd, MAP_FREE);
        return -1;
      }
      Atomics.store(this.map, fd, index + 1);
      return fd;
    }
    return -1;
  }

  /**
   * Closes `fd`: from now on no new call can use it; returns false when it was not open (EBADF). Its
   * host fd goes to `closeHost` now if no call is using it, else when the last such call releases it.
   */
  close(fd: number): boolean {
    if (!this.validFd(fd)) return false;
    for (;;) {
      const mapped = Atomics.load(this.map, fd);
      if (mapped <= 0) return false;
      if (Atomics.compareExchange(this.map, fd, mapped, MAP_FREE) !== mapped) continue;
      this.markClosing(mapped - 1);
      return true;
    }
  }

  private markClosing(index: number): void {
    const ref = this.base(index) + Field.Ref;
    let word = Atomics.load(this.words, ref);
    while ((word & STATE_BITS) === State.Open) {
      const seen = Atomics.compareExchange(this.words, ref, word, (word & ~STATE_BITS) | State.Closing);
      if (seen === word) {
        if (word >> 2 === 0) this.finalize(index);
        return;
      }
      word = seen;
    }
  }

  /**
   * WASI's fd_renumber: `from` moves onto `to`, which must be open, and `to`'s old handle is closed.
   * Returns false (EBADF) when either is not open.
   */
  renumber(from: number, to: number): boolean {
    if (!this.validFd(from) || !this.validFd(to)) return false;
    for (;;) {
      const moving = Atomics.load(this.map, from);
      const replaced = Atomics.load(this.map, to);
      if (moving <= 0 || replaced <= 0) return false;
      if (from === to) return true;
      // `from` lets go of the moving handle first, then `to` takes it. Every step leaves each handle
      // either named by an fd or closing, so none is ever lost (a lost handle's host fd would never
      // be closed). Putting `to` back after a failed step would not do: meanwhile its number may
      // have been closed and given to a new file with the very same handle index (ABA).
      if (Atomics.compareExchange(this.map, from, moving, MAP_FREE) !== moving) continue;
      if (Atomics.compareExchange(this.map, to, replaced, moving) === replaced) {
        this.markClosing(replaced - 1);
        return true;
      }
      // `to` changed meanwhile: give the handle back to `from` and look again, or, if `from` was
      // opened anew meanwhile, close the handle (as a close of `from` would have).
      if (Atomics.compareExchange(this.map, from, MAP_FREE, moving) !== MAP_FREE) {
        this.markClosing(moving - 1);
        return false;
      }
    }
  }

  /** Narrows the rights (WASI's fd_fdstat_set_rights); false (ENOTCAPABLE) when asked for a right it lacks. */
  narrowRights(handle: Handle, base: number, inheriting: number): boolean {
    const at = this.base(handle.index);
    if ((base & ~Atomics.load(this.words, at + Field.RightsBase)) !== 0) return false;
    if ((inheriting & ~Atomics.load(this.words, at + Field.RightsInheriting)) !== 0) return false;
    // Rights only ever shrink, so two threads narrowing at once end with one of their sets, never more.
    Atomics.and(this.words, at + Field.RightsBase, base);
    Atomics.and(this.words, at + Field.RightsInheriting, inheriting);
    return true;
  }

  setFdflags(handle: Handle, fdflags: number): void {
    Atomics.store(this.words, this.base(handle.index) + Field.Fdflags, fdflags);
  }

  /** The file offset, kept here because Node has no lseek: reads and writes are positional. */
  position(handle: Handle): bigint {
    return Atomics.load(this.positions, (this.base(handle.index) + Field.Position) / 2);
  }

  setPosition(handle: Handle, position: bigint): void {
    Atomics.store(this.positions, (this.base(handle.index) + Field.Position) / 2, position);
  }

  advance(handle: Handle, by: number): void {
    Atomics.add(this.positions, (this.base(handle.index) + Field.Position) / 2, BigInt(by));
  }
}
