/**
 * WASI preview1 for every thread of a program, over one shared descriptor table. Ordinary calls
 * run right here with the synchronous node:fs functions on the host fd. Calls that could block
 * without end never block in a host call: sleeps are `Atomics.wait`s, and reading the process's
 * stdin is done by the coordinator while this thread waits in `Atomics.wait`. A thread blocked in
 * either can always be terminated, so ending a program never hangs on it.
 */
import { randomFillSync } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { bufferCovering } from '../memory-growth.js';
import type { RunConfig } from '../protocol.js';
import { Dirent, Event, type EventValue, Fdstat, Filestat, Iovec, Prestat, Subscription, type SubscriptionValue } from './abi.js';
import {
  Clock,
  DIRECTORY_INHERITING,
  Errno,
  EventType,
  errnoOf,
  Fdflags,
  Filetype,
  Fstflags,
  LOOKUP_SYMLINK_FOLLOW,
  Oflags,
  Rights,
  RightsOf,
  rightsFromAbi,
  Whence,
} from './constants.js';
import { type FdOwnerClient, RELAYED, WOULD_BLOCK } from './fd-owner.js';
import { FdTable, type Handle, MAX_FDS } from './fd-table.js';
import { below, type FinalAction, itself, MAX_PATH_BYTES, unlessSymlink, walkPath } from './path-walk.js';
import type { StdinClient } from './stdin-client.js';

export interface SharedWasiOptions {
  /** Args, env and preopen names; when absent, `fetchConfig` gives them at the first call that needs them. */
  config?: RunConfig;
  fetchConfig?: () => RunConfig;
  fdTable: SharedArrayBuffer;
  /** Reads the program's stdin through the coordinator (the process's stdin, or the run's bytes). */
  stdin: StdinClient;
  /** Opens and closes the program's host fds (the coordinator). */
  owner: FdOwnerClient;
  /** Takes what the program writes to a relayed stdout or stderr (see RELAYED in fd-owner.ts). */
  output?: (stream: 1 | 2, bytes: Uint8Array) => void;
}

/** A run's config, encoded once for the calls that copy it into the program's memory. */
interface EncodedConfig {
  args: Uint8Array[];
  env: Uint8Array[];
  preopens: Uint8Array[];
}

/** Like Linux's IOV_MAX: more buffers than this in one call is EINVAL. */
const IOV_MAX = 1024;
/**
 * The most subscriptions one poll_oneoff takes; more is EINVAL, as Linux's poll() answers more
 * descriptors than a process may have. wasi-libc's poll() makes at most two a descriptor and one
 * clock. Without a bound, 22 million subscriptions (all of a 1 GiB memory) held the call for 55 s
 * and took 6 GB of the process's RSS, measured on Node 20.
 */
const POLL_MAX_SUBSCRIPTIONS = 4 * MAX_FDS;
/** The most one fd_write to a relayed stdout or stderr takes. */
const RELAY_CHUNK = 1 << 20;
/** random_get fills the program's memory this many bytes at a time. */
const RANDOM_CHUNK = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NS_PER_MS = 1_000_000;

/** A new name with a trailing slash (`link/`) names a directory that a link or symlink cannot be. */
function createsNothing(dir: number, name: string): number {
  return fs.lstatSync(below(dir, name), { throwIfNoEntry: false }) ? Errno.EXIST : Errno.NOENT;
}

/** The process's own stdin or the run's stdin bytes (not a file the program opened): read through the coordinator. */
function readsProcessStdin(entry: Handle): boolean {
  return (entry.hostFd === 0 && !entry.owned) || entry.hostFd === RELAYED.stdin;
}

export function filetypeOf(stats: fs.Stats | BigIntStats): number {
  if (stats.isFile()) return Filetype.REGULAR_FILE;
  if (stats.isDirectory()) return Filetype.DIRECTORY;
  if (stats.isCharacterDevice()) return Filetype.CHARACTER_DEVICE;
  if (stats.isBlockDevice()) return Filetype.BLOCK_DEVICE;
  if (stats.isSymbolicLink()) return Filetype.SYMBOLIC_LINK;
  if (stats.isSocket() || stats.isFIFO()) return Filetype.SOCKET_STREAM;
  return Filetype.UNKNOWN;
}

/** Sleeps in a terminable `Atomics.wait` (a host sleep would delay the program's end). */
function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `io` again after a short terminable nap for as long as the host answers that it would block
 * (every file the program opens is opened non-blocking, so that no host call can block), unless the
 * program itself asked for non-blocking I/O: then the error goes back to it. Gives up with EBADF
 * once `stillOpen` says the descriptor was closed by another thread.
 */
function untilReady<T>(io: () => T, nonBlocking: boolean, stillOpen: () => boolean): T {
  for (;;) {
    try {
      return io();
    } catch (error) {
      if (nonBlocking || (error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      if (!stillOpen()) throw Object.assign(new Error('closed by another thread'), { code: 'EBADF' });
      sleepMs(1);
    }
  }
}

function nowNs(clock: number): bigint | undefined {
  switch (clock) {
    case Clock.REALTIME:
      return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
    case Clock.MONOTONIC:
      return process.hrtime.bigint();
    case Clock.PROCESS_CPUTIME_ID:
    case Clock.THREAD_CPUTIME_ID: {
      const { user, system } = process.cpuUsage();
      return BigInt(user + system) * 1000n;
    }
    default:
      return undefined;
  }
}

export class SharedWasi {
  readonly wasiImport: Record<string, (...args: never[]) => number>;
  private memory: WebAssembly.Memory | undefined;
  private readonly table: FdTable;
  private encoded: EncodedConfig | undefined;
  /**
   * The directory listing fd_readdir pages through, this thread's last: read when a listing starts
   * (cookie 0), or when the descriptor is no longer open on the directory it was read from. Paging
   * through a snapshot costs each call only its own entries (re-reading the directory on every
   * call made a listing O(n^2)), and a file made or removed meanwhile neither repeats nor skips one.
   */
  private listing: { hostFd: number; dev: bigint; ino: bigint; names: string[] } | undefined;

  constructor(private readonly options: SharedWasiOptions) {
    this.table = new FdTable(options.fdTable, (released) => options.owner.release(released));
    if (options.config) this.configure(options.config);
    this.wasiImport = this.functions();
  }

  /** Sets the args, env and preopen names the program sees (a prepared run gets them when it starts). */
  configure({ args, env, preopens }: RunConfig): void {
    this.encoded = {
      args: args.map((arg) => encoder.encode(`${arg}\0`)),
      env: Object.entries(env).map(([key, value]) => encoder.encode(`${key}=${value}\0`)),
      preopens: preopens.map((guest) => encoder.encode(guest)),
    };
  }

  private get config(): EncodedConfig {
    if (!this.encoded) this.configure(this.options.fetchConfig!());
    return this.encoded!;
  }

  getImportObject(): Record<string, Record<string, unknown>> {
    return { wasi_snapshot_preview1: this.wasiImport };
  }

  /** Gives the calls their memory; `instance` may be `{ exports: { memory } }`. */
  initialize(instance: { exports: Record<string, unknown> }): void {
    this.memory = instance.exports.memory as WebAssembly.Memory;
  }

  private cachedBuffer: ArrayBufferLike | undefined;
  private cachedView: DataView | undefined;

  /**
   * A view of the memory that covers `[0, end)` if the memory is that large (another thread may
   * have grown it: see memory-growth.ts), made again only when a grow replaced the buffer. A
   * pointer past the end is checked here, before anything is read or written.
   */
  private view(end = 0): DataView {
    const buffer = bufferCovering(this.memory!, end);
    if (buffer !== this.cachedBuffer || buffer.byteLength !== this.cachedView!.byteLength) {
      this.cachedBuffer = buffer;
      this.cachedView = new DataView(buffer);
    }
    return this.cachedView!;
  }

  private bytes(pointer: number, length: number): Uint8Array {
    return new Uint8Array(this.view(pointer + length).buffer, pointer, length);
  }

  /**
   * A guest path (or symlink target), or ENAMETOOLONG when its bytes are more than a path may have:
   * checked before anything is copied or decoded (a path of 1 GiB less 64 bytes took ~1 GB of the
   * process's memory, then trapped the program with V8's string-length error).
   */
  private path(pointer: number, length: number): string | number {
    if (length > MAX_PATH_BYTES) return Errno.NAMETOOLONG;
    return decoder.decode(this.bytes(pointer, length).slice());
  }

  private iovecs(pointer: number, count: number): Uint8Array[] {
    if (count > IOV_MAX) throw Object.assign(new Error('too many buffers'), { code: 'EINVAL' });
    const view = this.view(pointer + count * Iovec.size);
    const buffers: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const iovec = Iovec.read(view, pointer + i * Iovec.size);
      buffers.push(this.bytes(iovec.pointer, iovec.length));
    }
    return buffers;
  }

  private writeFilestat(pointer: number, stats: BigIntStats): void {
    Filestat.write(this.view(pointer + Filestat.size), pointer, { ...stats, filetype: filetypeOf(stats) });
  }

  /** Writes NUL-terminated strings and their pointers (args_get, environ_get). */
  private writeStrings(strings: Uint8Array[], pointers: number, buffer: number): number {
    const view = this.view(pointers + strings.length * 4);
    let at = buffer;
    strings.forEach((bytes, i) => {
      view.setUint32(pointers + i * 4, at, true);
      this.bytes(at, bytes.length).set(bytes);
      at += bytes.length;
    });
    return Errno.SUCCESS;
  }

  private writeSizes(strings: Uint8Array[], countPointer: number, sizePointer: number): number {
    const view = this.view(Math.max(countPointer, sizePointer) + 4);
    view.setUint32(countPointer, strings.length, true);
    view.setUint32(
      sizePointer,
      strings.reduce((sum, s) => sum + s.length, 0),
      true,
    );
    return Errno.SUCCESS;
  }

  /**
   * Runs a call that works on the fd `fd`, holding a reference to its handle for the whole call, so
   * that its host fd cannot be closed (and its number reused) under it. node:fs errors become their errno.
   */
  private withFd(fd: number, needs: number, call: (handle: Handle) => number): number {
    const handle = this.table.acquire(fd);
    if (!handle) return Errno.BADF;
    try {
      if ((handle.rightsBase & needs) !== needs) return Errno.NOTCAPABLE;
      return call(handle);
    } catch (error) {
      return errnoOf(error);
    } finally {
      this.table.release(handle.index);
    }
  }

  /** Runs `act` on the final component of a guest path below the directory `fd` (see path-walk.ts). */
  private withPath(fd: number, needs: number, pathPointer: number, pathLength: number, follow: boolean, act: FinalAction): number {
    const path = this.path(pathPointer, pathLength);
    if (typeof path === 'number') return path;
    return this.withFd(fd, needs, (dir) => (dir.filetype === Filetype.DIRECTORY ? walkPath(dir.hostFd, path, follow, act) : Errno.NOTDIR));
  }

  private read(entry: Handle, buffers: Uint8Array[], position: bigint | null): number {
    if (readsProcessStdin(entry)) {
      const nonBlocking = (entry.fdflags & Fdflags.NONBLOCK) !== 0;
      return nonBlocking && !this.options.stdin.poll(0) ? -Errno.AGAIN : this.options.stdin.read(buffers);
    }
    if (entry.filetype === Filetype.DIRECTORY) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const seekable = this.seekable(entry);
    const at = position ?? (seekable ? this.table.position(entry) : null);
    const offset = at === null ? null : Number(at);
    // One buffer is the common case, and readSync costs less than readvSync.
    const read = () =>
      buffers.length === 1 ? fs.readSync(entry.hostFd, buffers[0]!, 0, buffers[0]!.length, offset) : fs.readvSync(entry.hostFd, buffers, offset ?? undefined);
    const count = untilReady(read, (entry.fdflags & Fdflags.NONBLOCK) !== 0, () => !this.table.isClosing(entry.index));
    if (position === null && seekable) this.table.advance(entry, count);
    return count;
  }

  /**
   * Files the program opened keep their offset in the table. The process's stdio keeps the host's
   * own offset (a redirected stdout is shared with the rest of the process), so no seeking there.
   */
  private seekable(entry: Handle): boolean {
    return entry.filetype === Filetype.REGULAR_FILE && entry.owned;
  }

  private write(entry: Handle, buffers: Uint8Array[], position: bigint | null): number {
    if (entry.hostFd === RELAYED.stdout || entry.hostFd === RELAYED.stderr) return this.relay(entry.hostFd === RELAYED.stdout ? 1 : 2, buffers);
    const seekable = this.seekable(entry);
    let at = position;
    if (at === null && seekable) at = entry.fdflags & Fdflags.APPEND ? BigInt(fs.fstatSync(entry.hostFd).size) : this.table.position(entry);
    const offset = at === null ? null : Number(at);
    const write = () =>
      buffers.length === 1 ? fs.writeSync(entry.hostFd, buffers[0]!, 0, buffers[0]!.length, offset) : fs.writevSync(entry.hostFd, buffers, offset ?? undefined);
    // A pipe may be non-blocking (a FIFO opened so, or stdout made so by another part of the
    // process): wait for room rather than fail, as a blocking write would.
    const count = untilReady(write, (entry.fdflags & Fdflags.NONBLOCK) !== 0, () => !this.table.isClosing(entry.index));
    if (position === null && seekable) this.table.setPosition(entry, at! + BigInt(count));
    return count;
  }

  /**
   * Copies the bytes out of the shared memory (the program may change them at once) for the
   * coordinator: at most RELAY_CHUNK a call (a short write, which the program's libc repeats), so a
   * huge length never makes the host copy more than that at once.
   */
  private relay(stream: 1 | 2, buffers: Uint8Array[]): number {
    const total = Math.min(
      RELAY_CHUNK,
      buffers.reduce((sum, b) => sum + b.length, 0),
    );
    if (total === 0) return 0;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const buffer of buffers) {
      if (at === total) break;
      const part = buffer.subarray(0, total - at);
      bytes.set(part, at);
      at += part.length;
    }
    this.options.output!(stream, bytes);
    return total;
  }

  private ioCall(fd: number, needs: number, iovs: number, count: number, resultPointer: number, io: (entry: Handle, buffers: Uint8Array[]) => number): number {
    return this.withFd(fd, needs, (entry) => {
      const done = io(entry, this.iovecs(iovs, count));
      if (done < 0) return -done;
      this.view(resultPointer + 4).setUint32(resultPointer, done, true);
      return Errno.SUCCESS;
    });
  }

  private pollOneoff(inPointer: number, outPointer: number, count: number, eventsPointer: number): number {
    if (count === 0 || count > POLL_MAX_SUBSCRIPTIONS) return Errno.INVAL;
    // Both ends checked against the memory before anything is decoded or kept.
    this.bytes(inPointer, count * Subscription.size);
    this.bytes(outPointer, count * Event.size);
    const view = this.view();
    const subscriptions = Array.from({ length: count }, (_, i) => Subscription.read(view, inPointer + i * Subscription.size));
    const ready: EventValue[] = [];
    let earliest: { userdata: bigint; deadline: bigint } | undefined;
    const stdinReaders: SubscriptionValue[] = [];
    const now = process.hrtime.bigint();
    for (const subscription of subscriptions) {
      const { userdata, type, clock } = subscription;
      if (clock) {
        const clockNow = nowNs(clock.id);
        if (clockNow === undefined) {
          ready.push({ userdata, type, error: Errno.INVAL, nbytes: 0n });
          continue;
        }
        const deadline = now + (clock.absolute ? clock.timeout - clockNow : clock.timeout);
        if (!earliest || deadline < earliest.deadline) earliest = { userdata, deadline };
      } else {
        const readsStdin = this.readsStdin(subscription.fd);
        if (readsStdin === undefined) ready.push({ userdata, type, error: Errno.BADF, nbytes: 0n });
        else if (type === EventType.FD_READ && readsStdin) {
          if (this.options.stdin.poll(0)) ready.push({ userdata, type, error: Errno.SUCCESS, nbytes: 1n });
          else stdinReaders.push(subscription);
        } else ready.push({ userdata, type, error: Errno.SUCCESS, nbytes: 0n });
      }
    }
    if (ready.length === 0) {
      // Rounded up: a clock event must not come before its deadline.
      const waitMs = earliest ? Math.max(0, Math.ceil(Number(earliest.deadline - process.hrtime.bigint()) / NS_PER_MS)) : Infinity;
      if (stdinReaders.length > 0 && this.options.stdin.poll(waitMs)) {
        for (const { userdata } of stdinReaders) ready.push({ userdata, type: EventType.FD_READ, error: Errno.SUCCESS, nbytes: 1n });
      } else if (earliest) {
        if (stdinReaders.length === 0) sleepMs(waitMs);
        ready.push({ userdata: earliest.userdata, type: EventType.CLOCK, error: Errno.SUCCESS, nbytes: 0n });
      }
    }
    for (const [i, event] of ready.entries()) Event.write(view, outPointer + i * Event.size, event);
    view.setUint32(eventsPointer, ready.length, true);
    return Errno.SUCCESS;
  }

  /** Whether `fd` is the process's stdin (read through the coordinator); undefined when it is not open. */
  private readsStdin(fd: number): boolean | undefined {
    const handle = this.table.acquire(fd);
    if (!handle) return undefined;
    this.table.release(handle.index);
    return readsProcessStdin(handle);
  }

  private pathOpen(
    dirFd: number,
    dirflags: number,
    pathPointer: number,
    pathLength: number,
    oflags: number,
    rightsBase: number,
    rightsInheriting: number,
    fdflags: number,
    fdPointer: number,
  ): number {
    const follow = (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0;
    const path = this.path(pathPointer, pathLength);
    if (typeof path === 'number') return path;
    const { constants: c } = fs;
    // The access mode follows the rights asked for, as in node:wasi (uvwasi).
    const reads = (rightsBase & (Rights.FD_READ | Rights.FD_READDIR)) !== 0;
    const writes =
      (rightsBase & (Rights.FD_WRITE | Rights.FD_DATASYNC | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE)) !== 0 || (oflags & Oflags.TRUNC) !== 0;
    let flags = writes ? (reads ? c.O_RDWR : c.O_WRONLY) : c.O_RDONLY;
    if (oflags & Oflags.CREAT) flags |= c.O_CREAT;
    if (oflags & Oflags.EXCL) flags |= c.O_EXCL;
    if (oflags & Oflags.TRUNC) flags |= c.O_TRUNC;
    if (oflags & Oflags.DIRECTORY) flags |= c.O_DIRECTORY;
    // APPEND is not passed on: the host fd would then append even to positional writes, and
    // fd_fdstat_set_flags could not turn it off (Node has no fcntl). Appends are done by `write`.
    if (fdflags & Fdflags.SYNC) flags |= c.O_SYNC;
    if (fdflags & Fdflags.DSYNC) flags |= c.O_DSYNC;
    const needs = Rights.PATH_OPEN | (oflags & Oflags.CREAT ? Rights.PATH_CREATE_FILE : 0) | (oflags & Oflags.TRUNC ? Rights.PATH_FILESTAT_SET_SIZE : 0);
    return this.withFd(dirFd, needs, (dir) => {
      if (dir.filetype !== Filetype.DIRECTORY) return Errno.NOTDIR;
      // Rights a descriptor below `dir` may never have.
      if (rightsBase < 0 || rightsInheriting < 0 || (rightsBase & ~dir.rightsInheriting) !== 0 || (rightsInheriting & ~dir.rightsInheriting) !== 0) {
        return Errno.NOTCAPABLE;
      }
      // The coordinator opens it (it owns every host fd of the program), non-blocking: a FIFO
      // whose writer is not there yet is waited for here, in terminable naps.
      let hostFd: number;
      for (;;) {
        hostFd = this.options.owner.openBelow(dir.hostFd, path, follow, flags);
        if (hostFd !== WOULD_BLOCK) break;
        if (fdflags & Fdflags.NONBLOCK) return Errno.NXIO;
        sleepMs(1);
      }
      if (hostFd < 0) return -hostFd;
      const entry = { hostFd, filetype: Filetype.UNKNOWN as number, fdflags, preopen: -1, tty: false, owned: true, rightsBase: 0, rightsInheriting: 0 };
      try {
        entry.filetype = filetypeOf(fs.fstatSync(hostFd));
        entry.tty = isatty(hostFd);
        // What was asked for, as far as this kind of file can have it.
        const most =
          entry.filetype === Filetype.DIRECTORY ? RightsOf.directory : entry.filetype === Filetype.REGULAR_FILE ? RightsOf.regularFile : RightsOf.stream;
        entry.rightsBase = rightsBase & most;
        entry.rightsInheriting = entry.filetype === Filetype.DIRECTORY ? rightsInheriting & DIRECTORY_INHERITING : 0;
      } catch (error) {
        this.options.owner.release(entry);
        return errnoOf(error);
      }
      const fd = this.table.open(entry);
      if (fd < 0) {
        this.options.owner.release(entry);
        return Errno.MFILE;
      }
      this.view(fdPointer + 4).setUint32(fdPointer, fd, true);
      return Errno.SUCCESS;
    });
  }

  private readdir(fd: number, buffer: number, length: number, cookie: bigint, usedPointer: number): number {
    return this.withFd(fd, Rights.FD_READDIR, (entry) => {
      if (entry.filetype !== Filetype.DIRECTORY) return Errno.NOTDIR;
      const out = this.bytes(buffer, length); // checked against the memory before anything is read
      const { hostFd } = entry;
      const itselfStats = fs.fstatSync(hostFd, { bigint: true });
      let listing = this.listing;
      if (cookie === 0n || !listing || listing.hostFd !== hostFd || listing.dev !== itselfStats.dev || listing.ino !== itselfStats.ino) {
        // The directory the descriptor is open on, wherever it has been moved: never a stored path.
        listing = { hostFd, dev: itselfStats.dev, ino: itselfStats.ino, names: fs.readdirSync(itself(hostFd)) };
        this.listing = listing;
      }
      // `.` and `..` first (readdirSync leaves them out). A preopen's `..` is itself, as `/..` is `/`:
      // nothing above a preopen is looked at.
      const { names } = listing;
      const nameAt = (i: number) => (i === 0 ? '.' : i === 1 ? '..' : names[i - 2]!);
      const describe = (i: number): { ino: bigint; filetype: number } | undefined => {
        if (i === 0 || (i === 1 && entry.preopen >= 0)) return { ino: itselfStats.ino, filetype: Filetype.DIRECTORY };
        try {
          const stats = fs.lstatSync(below(hostFd, nameAt(i)), { bigint: true });
          return { ino: stats.ino, filetype: filetypeOf(stats) };
        } catch (error) {
          // Removed since the listing was read: as readdir may, it is left out.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw error;
        }
      };
      let used = 0;
      for (let i = Number(cookie); i < names.length + 2 && used < length; i++) {
        const found = describe(i);
        if (!found) continue;
        const record = Dirent.encode({ next: BigInt(i + 1), name: encoder.encode(nameAt(i)), ...found });
        // A record that does not fit is cut: a full buffer tells the caller to ask again.
        const fits = Math.min(record.length, length - used);
        out.set(record.subarray(0, fits), used);
        used += fits;
      }
      this.view(usedPointer + 4).setUint32(usedPointer, used, true);
      return Errno.SUCCESS;
    });
  }

  private setTimes(stats: () => fs.Stats, atim: bigint, mtim: bigint, flags: number, apply: (atime: number, mtime: number) => void): number {
    if ((flags & Fstflags.ATIM && flags & Fstflags.ATIM_NOW) || (flags & Fstflags.MTIM && flags & Fstflags.MTIM_NOW)) return Errno.INVAL;
    const now = Date.now() / 1000;
    const current = flags & (Fstflags.ATIM | Fstflags.MTIM) ? undefined : stats();
    const pick = (set: number, setNow: number, value: bigint, existing: () => number) =>
      flags & setNow ? now : flags & set ? Number(value) / 1e9 : existing();
    const atime = pick(Fstflags.ATIM, Fstflags.ATIM_NOW, atim, () => (current ?? stats()).atimeMs / 1000);
    const mtime = pick(Fstflags.MTIM, Fstflags.MTIM_NOW, mtim, () => (current ?? stats()).mtimeMs / 1000);
    apply(atime, mtime);
    return Errno.SUCCESS;
  }

  private functions(): Record<string, (...args: never[]) => number> {
    const table = this.table;
    const ok = Errno.SUCCESS;
    const calls = {
      args_get: (argv: number, buffer: number) => this.writeStrings(this.config.args, argv, buffer),
      args_sizes_get: (count: number, size: number) => this.writeSizes(this.config.args, count, size),
      environ_get: (environ: number, buffer: number) => this.writeStrings(this.config.env, environ, buffer),
      environ_sizes_get: (count: number, size: number) => this.writeSizes(this.config.env, count, size),
      clock_res_get: (clock: number, pointer: number) => {
        if (nowNs(clock) === undefined) return Errno.INVAL;
        this.view(pointer + 8).setBigUint64(pointer, 1000n, true);
        return ok;
      },
      clock_time_get: (clock: number, _precision: bigint, pointer: number) => {
        const now = nowNs(clock);
        if (now === undefined) return Errno.INVAL;
        this.view(pointer + 8).setBigUint64(pointer, now, true);
        return ok;
      },
      fd_advise: (fd: number) => this.withFd(fd, Rights.FD_ADVISE, () => ok),
      fd_allocate: (fd: number, offset: bigint, length: bigint) =>
        this.withFd(fd, Rights.FD_ALLOCATE, (e) => {
          const end = Number(offset + length);
          if (fs.fstatSync(e.hostFd).size < end) fs.ftruncateSync(e.hostFd, end);
          return ok;
        }),
      // The host fd is closed by the coordinator once no call in flight uses it (see fd-table.ts);
      // the caller's stdio fds are never closed.
      fd_close: (fd: number) => (table.close(fd) ? ok : Errno.BADF),
      fd_datasync: (fd: number) => this.withFd(fd, Rights.FD_DATASYNC, (e) => (fs.fdatasyncSync(e.hostFd), ok)),
      fd_sync: (fd: number) => this.withFd(fd, Rights.FD_SYNC, (e) => (fs.fsyncSync(e.hostFd), ok)),
      fd_fdstat_get: (fd: number, pointer: number) =>
        this.withFd(fd, 0, (e) => {
          Fdstat.write(this.view(pointer + Fdstat.size), pointer, e);
          return ok;
        }),
      fd_fdstat_set_flags: (fd: number, flags: number) => this.withFd(fd, Rights.FD_FDSTAT_SET_FLAGS, (e) => (table.setFdflags(e, flags), ok)),
      fd_fdstat_set_rights: (fd: number, base: bigint, inheriting: bigint) =>
        this.withFd(fd, 0, (e) => {
          const [b, i] = [rightsFromAbi(base), rightsFromAbi(inheriting)];
          return b >= 0 && i >= 0 && table.narrowRights(e, b, i) ? ok : Errno.NOTCAPABLE;
        }),
      fd_filestat_get: (fd: number, pointer: number) =>
        this.withFd(fd, Rights.FD_FILESTAT_GET, (e) => (this.writeFilestat(pointer, fs.fstatSync(e.hostFd, { bigint: true })), ok)),
      fd_filestat_set_size: (fd: number, size: bigint) => this.withFd(fd, Rights.FD_FILESTAT_SET_SIZE, (e) => (fs.ftruncateSync(e.hostFd, Number(size)), ok)),
      fd_filestat_set_times: (fd: number, atim: bigint, mtim: bigint, flags: number) =>
        this.withFd(fd, Rights.FD_FILESTAT_SET_TIMES, (e) =>
          this.setTimes(
            () => fs.fstatSync(e.hostFd),
            atim,
            mtim,
            flags,
            (a, m) => fs.futimesSync(e.hostFd, a, m),
          ),
        ),
      fd_pread: (fd: number, iovs: number, count: number, offset: bigint, pointer: number) =>
        this.ioCall(fd, Rights.FD_READ | Rights.FD_SEEK, iovs, count, pointer, (e, buffers) => this.read(e, buffers, offset)),
      fd_pwrite: (fd: number, iovs: number, count: number, offset: bigint, pointer: number) =>
        this.ioCall(fd, Rights.FD_WRITE | Rights.FD_SEEK, iovs, count, pointer, (e, buffers) => this.write(e, buffers, offset)),
      fd_read: (fd: number, iovs: number, count: number, pointer: number) =>
        this.ioCall(fd, Rights.FD_READ, iovs, count, pointer, (e, buffers) => this.read(e, buffers, null)),
      fd_write: (fd: number, iovs: number, count: number, pointer: number) =>
        this.ioCall(fd, Rights.FD_WRITE, iovs, count, pointer, (e, buffers) => this.write(e, buffers, null)),
      fd_prestat_get: (fd: number, pointer: number) =>
        this.withFd(fd, 0, (e) => {
          if (e.preopen < 0) return Errno.BADF;
          Prestat.write(this.view(pointer + Prestat.size), pointer, this.config.preopens[e.preopen]!.length);
          return ok;
        }),
      fd_prestat_dir_name: (fd: number, pointer: number, length: number) =>
        this.withFd(fd, 0, (e) => {
          if (e.preopen < 0) return Errno.BADF;
          const name = this.config.preopens[e.preopen]!;
          // A buffer too short for the name is an error, not a cut name.
          if (length < name.length) return Errno.NAMETOOLONG;
          this.bytes(pointer, name.length).set(name);
          return ok;
        }),
      fd_readdir: (fd: number, buffer: number, length: number, cookie: bigint, pointer: number) => this.readdir(fd, buffer, length, cookie, pointer),
      fd_renumber: (from: number, to: number) => (table.renumber(from, to) ? ok : Errno.BADF),
      fd_seek: (fd: number, offset: bigint, whence: number, pointer: number) =>
        // A seek by 0 from the current position is a tell (wasi-libc's lseek(fd, 0, SEEK_CUR)).
        this.withFd(fd, offset === 0n && whence === Whence.CUR ? Rights.FD_TELL : Rights.FD_SEEK, (e) => {
          if (!this.seekable(e)) return e.filetype === Filetype.DIRECTORY ? Errno.BADF : Errno.SPIPE;
          const base =
            whence === Whence.SET ? 0n : whence === Whence.CUR ? table.position(e) : whence === Whence.END ? BigInt(fs.fstatSync(e.hostFd).size) : -1n;
          if (base < 0n || base + offset < 0n) return Errno.INVAL;
          table.setPosition(e, base + offset);
          this.view(pointer + 8).setBigUint64(pointer, base + offset, true);
          return ok;
        }),
      fd_tell: (fd: number, pointer: number) =>
        this.withFd(fd, Rights.FD_TELL, (e) => {
          if (!this.seekable(e)) return Errno.SPIPE;
          this.view(pointer + 8).setBigUint64(pointer, table.position(e), true);
          return ok;
        }),
      // Each path call acts on one name inside its parent directory, held open by the walk, with a
      // host call that does not follow a symlink there itself (see path-walk.ts).
      path_create_directory: (fd: number, path: number, length: number) =>
        this.withPath(fd, Rights.PATH_CREATE_DIRECTORY, path, length, false, (dir, name) => (fs.mkdirSync(below(dir, name)), ok)),
      path_filestat_get: (fd: number, flags: number, path: number, length: number, pointer: number) => {
        const follow = (flags & LOOKUP_SYMLINK_FOLLOW) !== 0;
        return this.withPath(fd, Rights.PATH_FILESTAT_GET, path, length, follow, (dir, name) =>
          unlessSymlink(dir, name, follow, () => (this.writeFilestat(pointer, fs.lstatSync(below(dir, name), { bigint: true })), ok)),
        );
      },
      path_filestat_set_times: (fd: number, flags: number, path: number, length: number, atim: bigint, mtim: bigint, fstflags: number) => {
        const follow = (flags & LOOKUP_SYMLINK_FOLLOW) !== 0;
        return this.withPath(fd, Rights.PATH_FILESTAT_SET_TIMES, path, length, follow, (dir, name) =>
          unlessSymlink(dir, name, follow, () => {
            const at = below(dir, name);
            return this.setTimes(
              () => fs.lstatSync(at),
              atim,
              mtim,
              fstflags,
              (a, m) => fs.lutimesSync(at, a, m),
            );
          }),
        );
      },
      path_link: (oldFd: number, oldFlags: number, oldPath: number, oldLength: number, newFd: number, newPath: number, newLength: number) => {
        const follow = (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0;
        return this.withPath(oldFd, Rights.PATH_LINK_SOURCE, oldPath, oldLength, follow, (fromDir, fromName) =>
          unlessSymlink(fromDir, fromName, follow, () =>
            // link(2) does not follow a symlink it is given: it links the symlink itself.
            this.withPath(newFd, Rights.PATH_LINK_TARGET, newPath, newLength, false, (toDir, toName, trailingSlash) =>
              trailingSlash ? createsNothing(toDir, toName) : (fs.linkSync(below(fromDir, fromName), below(toDir, toName)), ok),
            ),
          ),
        );
      },
      path_open: (
        dirFd: number,
        dirflags: number,
        path: number,
        length: number,
        oflags: number,
        rightsBase: bigint,
        inheriting: bigint,
        fdflags: number,
        pointer: number,
      ) => this.pathOpen(dirFd, dirflags, path, length, oflags, rightsFromAbi(rightsBase), rightsFromAbi(inheriting), fdflags, pointer),
      path_readlink: (fd: number, path: number, length: number, buffer: number, bufferLength: number, pointer: number) =>
        this.withPath(fd, Rights.PATH_READLINK, path, length, false, (dir, name) => {
          const target = encoder.encode(fs.readlinkSync(below(dir, name)));
          const used = Math.min(target.length, bufferLength);
          this.bytes(buffer, used).set(target.subarray(0, used));
          this.view(pointer + 4).setUint32(pointer, used, true);
          return ok;
        }),
      path_remove_directory: (fd: number, path: number, length: number) =>
        this.withPath(fd, Rights.PATH_REMOVE_DIRECTORY, path, length, false, (dir, name) =>
          name === '.' ? Errno.INVAL : (fs.rmdirSync(below(dir, name)), ok),
        ),
      path_rename: (fd: number, oldPath: number, oldLength: number, newFd: number, newPath: number, newLength: number) =>
        this.withPath(fd, Rights.PATH_RENAME_SOURCE, oldPath, oldLength, false, (fromDir, fromName) =>
          this.withPath(
            newFd,
            Rights.PATH_RENAME_TARGET,
            newPath,
            newLength,
            false,
            (toDir, toName) => (fs.renameSync(below(fromDir, fromName), below(toDir, toName)), ok),
          ),
        ),
      path_symlink: (oldPath: number, oldLength: number, fd: number, newPath: number, newLength: number) => {
        // The link may point anywhere: following it is what the walk checks.
        const target = this.path(oldPath, oldLength);
        if (typeof target === 'number') return target;
        if (target.includes('\0')) return Errno.INVAL;
        // A relative target only: an absolute one could never be followed inside the sandbox.
        if (target.startsWith('/')) return Errno.NOTCAPABLE;
        return this.withPath(fd, Rights.PATH_SYMLINK, newPath, newLength, false, (dir, name, trailingSlash) =>
          trailingSlash ? createsNothing(dir, name) : (fs.symlinkSync(target, below(dir, name)), ok),
        );
      },
      path_unlink_file: (fd: number, path: number, length: number) =>
        this.withPath(fd, Rights.PATH_UNLINK_FILE, path, length, false, (dir, name, trailingSlash) => {
          // `file/` names a directory: unlinking it is ENOTDIR for a file, EISDIR for a directory.
          if (trailingSlash) return fs.lstatSync(below(dir, name)).isDirectory() ? Errno.ISDIR : Errno.NOTDIR;
          fs.unlinkSync(below(dir, name));
          return ok;
        }),
      poll_oneoff: (inPointer: number, outPointer: number, count: number, pointer: number) => this.pollOneoff(inPointer, outPointer, count, pointer),
      proc_exit: (code: number): number => {
        throw new Error(`proc_exit(${code}) must be routed by the runtime`);
      },
      proc_raise: () => Errno.NOSYS,
      sched_yield: () => ok,
      random_get: (pointer: number, length: number) => {
        // Filled in place, a chunk at a time: a view checked against the memory first, no copy.
        const target = this.bytes(pointer, length);
        for (let at = 0; at < length; at += RANDOM_CHUNK) randomFillSync(target, at, Math.min(RANDOM_CHUNK, length - at));
        return ok;
      },
      sock_accept: () => Errno.NOTSUP,
      sock_recv: () => Errno.NOTSUP,
      sock_send: () => Errno.NOTSUP,
      // No sockets here: a descriptor that is open is not one.
      sock_shutdown: (fd: number) => this.withFd(fd, 0, () => Errno.NOTSOCK),
    };
    // A pointer or length outside the memory is EFAULT, for every call (the views throw RangeError).
    const guarded: Record<string, (...args: never[]) => number> = {};
    for (const [name, call] of Object.entries(calls) as [string, (...args: unknown[]) => number][]) {
      guarded[name] = function guardedCall() {
        try {
          // biome-ignore lint/complexity/noArguments: arguments with apply is V8's fast path here (no rest array)
          return call.apply(undefined, arguments as unknown as unknown[]);
        } catch (error) {
          if (error instanceof RangeError) return Errno.FAULT;
          throw error;
        }
      };
    }
    return guarded;
  }
}
