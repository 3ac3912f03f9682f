/**
 * The preview1 call table: one function per import of `wasi_snapshot_preview1`, each a few lines
 * that check rights, take their descriptor for the length of the call (`withFd`), and read or
 * write guest memory through its checked views. Any pointer or length outside the memory is EFAULT.
 */
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import { Fdstat, Prestat } from './abi.js';
import { Errno, Filetype, Fstflags, LOOKUP_SYMLINK_FOLLOW, Rights, rightsFromAbi, Whence } from './constants.js';
import type { FdIo } from './fd-io.js';
import type { Handle } from './fd-table.js';
import { type PathOpenContext, pathOpen } from './path-open.js';
import { below, type FinalAction, unlessSymlink } from './path-walk.js';
import { nowNs, pollOneoff } from './poll.js';
import type { DirectoryListing } from './readdir.js';
import type { StdinClient } from './stdin-client.js';

/** random_get fills the program's memory this many bytes at a time. */
const RANDOM_CHUNK = 1 << 20;

const encoder = new TextEncoder();

/** What the calls work on: one thread's view of the program's WASI (SharedWasi). */
export interface WasiCalls extends PathOpenContext {
  readonly io: FdIo;
  readonly listing: DirectoryListing;
  readonly stdin: StdinClient;
  /** The run's args, env and preopen names, encoded. */
  readonly config: { args: Uint8Array[]; env: Uint8Array[]; preopens: Uint8Array[] };
  withPath(fd: number, needs: number, pathPointer: number, pathLength: number, follow: boolean, act: FinalAction): number;
  ioCall(fd: number, needs: number, iovs: number, count: number, resultPointer: number, io: (entry: Handle, buffers: Uint8Array[]) => number): number;
  /** Whether `fd` is the process's stdin (read through the coordinator); undefined when it is not open. */
  readsStdin(fd: number): boolean | undefined;
}

/** A new name with a trailing slash (`link/`) names a directory that a link or symlink cannot be. */
function createsNothing(dir: number, name: string): number {
  return fs.lstatSync(below(dir, name), { throwIfNoEntry: false }) ? Errno.EXIST : Errno.NOENT;
}

function setTimes(stats: () => fs.Stats, atim: bigint, mtim: bigint, flags: number, apply: (atime: number, mtime: number) => void): number {
  if ((flags & Fstflags.ATIM && flags & Fstflags.ATIM_NOW) || (flags & Fstflags.MTIM && flags & Fstflags.MTIM_NOW)) return Errno.INVAL;
  const now = Date.now() / 1000;
  const current = flags & (Fstflags.ATIM | Fstflags.MTIM) ? undefined : stats();
  const pick = (set: number, setNow: number, value: bigint, existing: () => number) => (flags & setNow ? now : flags & set ? Number(value) / 1e9 : existing());
  const atime = pick(Fstflags.ATIM, Fstflags.ATIM_NOW, atim, () => (current ?? stats()).atimeMs / 1000);
  const mtime = pick(Fstflags.MTIM, Fstflags.MTIM_NOW, mtim, () => (current ?? stats()).mtimeMs / 1000);
  apply(atime, mtime);
  return Errno.SUCCESS;
}

/** The import functions of `w`. */
export function callTable(w: WasiCalls): Record<string, (...args: never[]) => number> {
  const { table, memory: m } = w;
  const ok = Errno.SUCCESS;
  const calls = {
    args_get: (argv: number, buffer: number) => m.writeStrings(w.config.args, argv, buffer),
    args_sizes_get: (count: number, size: number) => m.writeSizes(w.config.args, count, size),
    environ_get: (environ: number, buffer: number) => m.writeStrings(w.config.env, environ, buffer),
    environ_sizes_get: (count: number, size: number) => m.writeSizes(w.config.env, count, size),
    clock_res_get: (clock: number, pointer: number) => {
      if (nowNs(clock) === undefined) return Errno.INVAL;
      m.view(pointer + 8).setBigUint64(pointer, 1000n, true);
      return ok;
    },
    clock_time_get: (clock: number, _precision: bigint, pointer: number) => {
      const now = nowNs(clock);
      if (now === undefined) return Errno.INVAL;
      m.view(pointer + 8).setBigUint64(pointer, now, true);
      return ok;
    },
    fd_advise: (fd: number) => w.withFd(fd, Rights.FD_ADVISE, () => ok),
    fd_allocate: (fd: number, offset: bigint, length: bigint) =>
      w.withFd(fd, Rights.FD_ALLOCATE, (e) => {
        const end = Number(offset + length);
        if (fs.fstatSync(e.hostFd).size < end) fs.ftruncateSync(e.hostFd, end);
        return ok;
      }),
    // The host fd is closed by the coordinator once no call in flight uses it (see fd-table.ts);
    // the caller's stdio fds are never closed.
    fd_close: (fd: number) => (table.close(fd) ? ok : Errno.BADF),
    fd_datasync: (fd: number) => w.withFd(fd, Rights.FD_DATASYNC, (e) => (fs.fdatasyncSync(e.hostFd), ok)),
    fd_sync: (fd: number) => w.withFd(fd, Rights.FD_SYNC, (e) => (fs.fsyncSync(e.hostFd), ok)),
    fd_fdstat_get: (fd: number, pointer: number) =>
      w.withFd(fd, 0, (e) => {
        Fdstat.write(m.view(pointer + Fdstat.size), pointer, e);
        return ok;
      }),
    fd_fdstat_set_flags: (fd: number, flags: number) => w.withFd(fd, Rights.FD_FDSTAT_SET_FLAGS, (e) => (table.setFdflags(e, flags), ok)),
    fd_fdstat_set_rights: (fd: number, base: bigint, inheriting: bigint) =>
      w.withFd(fd, 0, (e) => {
        const [b, i] = [rightsFromAbi(base), rightsFromAbi(inheriting)];
        return b >= 0 && i >= 0 && table.narrowRights(e, b, i) ? ok : Errno.NOTCAPABLE;
      }),
    fd_filestat_get: (fd: number, pointer: number) =>
      w.withFd(fd, Rights.FD_FILESTAT_GET, (e) => (m.writeFilestat(pointer, fs.fstatSync(e.hostFd, { bigint: true })), ok)),
    fd_filestat_set_size: (fd: number, size: bigint) => w.withFd(fd, Rights.FD_FILESTAT_SET_SIZE, (e) => (fs.ftruncateSync(e.hostFd, Number(size)), ok)),
    fd_filestat_set_times: (fd: number, atim: bigint, mtim: bigint, flags: number) =>
      w.withFd(fd, Rights.FD_FILESTAT_SET_TIMES, (e) =>
        setTimes(
          () => fs.fstatSync(e.hostFd),
          atim,
          mtim,
          flags,
          (a, m) => fs.futimesSync(e.hostFd, a, m),
        ),
      ),
    fd_pread: (fd: number, iovs: number, count: number, offset: bigint, pointer: number) =>
      w.ioCall(fd, Rights.FD_READ | Rights.FD_SEEK, iovs, count, pointer, (e, buffers) => w.io.read(e, buffers, offset)),
    fd_pwrite: (fd: number, iovs: number, count: number, offset: bigint, pointer: number) =>
      w.ioCall(fd, Rights.FD_WRITE | Rights.FD_SEEK, iovs, count, pointer, (e, buffers) => w.io.write(e, buffers, offset)),
    fd_read: (fd: number, iovs: number, count: number, pointer: number) =>
      w.ioCall(fd, Rights.FD_READ, iovs, count, pointer, (e, buffers) => w.io.read(e, buffers, null)),
    fd_write: (fd: number, iovs: number, count: number, pointer: number) =>
      w.ioCall(fd, Rights.FD_WRITE, iovs, count, pointer, (e, buffers) => w.io.write(e, buffers, null)),
    fd_prestat_get: (fd: number, pointer: number) =>
      w.withFd(fd, 0, (e) => {
        if (e.preopen < 0) return Errno.BADF;
        Prestat.write(m.view(pointer + Prestat.size), pointer, w.config.preopens[e.preopen]!.length);
        return ok;
      }),
    fd_prestat_dir_name: (fd: number, pointer: number, length: number) =>
      w.withFd(fd, 0, (e) => {
        if (e.preopen < 0) return Errno.BADF;
        const name = w.config.preopens[e.preopen]!;
        // A buffer too short for the name is an error, not a cut name.
        if (length < name.length) return Errno.NAMETOOLONG;
        m.bytes(pointer, name.length).set(name);
        return ok;
      }),
    fd_readdir: (fd: number, buffer: number, length: number, cookie: bigint, pointer: number) =>
      w.withFd(fd, Rights.FD_READDIR, (e) => w.listing.read(m, e, buffer, length, cookie, pointer)),
    fd_renumber: (from: number, to: number) => (table.renumber(from, to) ? ok : Errno.BADF),
    fd_seek: (fd: number, offset: bigint, whence: number, pointer: number) =>
      // A seek by 0 from the current position is a tell (wasi-libc's lseek(fd, 0, SEEK_CUR)).
      w.withFd(fd, offset === 0n && whence === Whence.CUR ? Rights.FD_TELL : Rights.FD_SEEK, (e) => {
        if (!w.io.seekable(e)) return e.filetype === Filetype.DIRECTORY ? Errno.BADF : Errno.SPIPE;
        const base = whence === Whence.SET ? 0n : whence === Whence.CUR ? table.position(e) : whence === Whence.END ? BigInt(fs.fstatSync(e.hostFd).size) : -1n;
        if (base < 0n || base + offset < 0n) return Errno.INVAL;
        table.setPosition(e, base + offset);
        m.view(pointer + 8).setBigUint64(pointer, base + offset, true);
        return ok;
      }),
    fd_tell: (fd: number, pointer: number) =>
      w.withFd(fd, Rights.FD_TELL, (e) => {
        if (!w.io.seekable(e)) return Errno.SPIPE;
        m.view(pointer + 8).setBigUint64(pointer, table.position(e), true);
        return ok;
      }),
    // Each path call acts on one name inside its parent directory, held open by the walk, with a
    // host call that does not follow a symlink there itself (see path-walk.ts).
    path_create_directory: (fd: number, path: number, length: number) =>
      w.withPath(fd, Rights.PATH_CREATE_DIRECTORY, path, length, false, (dir, name) => (fs.mkdirSync(below(dir, name)), ok)),
    path_filestat_get: (fd: number, flags: number, path: number, length: number, pointer: number) => {
      const follow = (flags & LOOKUP_SYMLINK_FOLLOW) !== 0;
      return w.withPath(fd, Rights.PATH_FILESTAT_GET, path, length, follow, (dir, name) =>
        unlessSymlink(dir, name, follow, () => (m.writeFilestat(pointer, fs.lstatSync(below(dir, name), { bigint: true })), ok)),
      );
    },
    path_filestat_set_times: (fd: number, flags: number, path: number, length: number, atim: bigint, mtim: bigint, fstflags: number) => {
      const follow = (flags & LOOKUP_SYMLINK_FOLLOW) !== 0;
      return w.withPath(fd, Rights.PATH_FILESTAT_SET_TIMES, path, length, follow, (dir, name) =>
        unlessSymlink(dir, name, follow, () => {
          const at = below(dir, name);
          return setTimes(
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
      return w.withPath(oldFd, Rights.PATH_LINK_SOURCE, oldPath, oldLength, follow, (fromDir, fromName) =>
        unlessSymlink(fromDir, fromName, follow, () =>
          // link(2) does not follow a symlink it is given: it links the symlink itself.
          w.withPath(newFd, Rights.PATH_LINK_TARGET, newPath, newLength, false, (toDir, toName, trailingSlash) =>
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
    ) => pathOpen(w, dirFd, dirflags, path, length, oflags, rightsFromAbi(rightsBase), rightsFromAbi(inheriting), fdflags, pointer),
    path_readlink: (fd: number, path: number, length: number, buffer: number, bufferLength: number, pointer: number) =>
      w.withPath(fd, Rights.PATH_READLINK, path, length, false, (dir, name) => {
        const target = encoder.encode(fs.readlinkSync(below(dir, name)));
        const used = Math.min(target.length, bufferLength);
        m.bytes(buffer, used).set(target.subarray(0, used));
        m.view(pointer + 4).setUint32(pointer, used, true);
        return ok;
      }),
    path_remove_directory: (fd: number, path: number, length: number) =>
      w.withPath(fd, Rights.PATH_REMOVE_DIRECTORY, path, length, false, (dir, name) => (name === '.' ? Errno.INVAL : (fs.rmdirSync(below(dir, name)), ok))),
    path_rename: (fd: number, oldPath: number, oldLength: number, newFd: number, newPath: number, newLength: number) =>
      w.withPath(fd, Rights.PATH_RENAME_SOURCE, oldPath, oldLength, false, (fromDir, fromName) =>
        w.withPath(
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
      const target = m.path(oldPath, oldLength);
      if (typeof target === 'number') return target;
      if (target.includes('\0')) return Errno.INVAL;
      // A relative target only: an absolute one could never be followed inside the sandbox.
      if (target.startsWith('/')) return Errno.NOTCAPABLE;
      return w.withPath(fd, Rights.PATH_SYMLINK, newPath, newLength, false, (dir, name, trailingSlash) =>
        trailingSlash ? createsNothing(dir, name) : (fs.symlinkSync(target, below(dir, name)), ok),
      );
    },
    path_unlink_file: (fd: number, path: number, length: number) =>
      w.withPath(fd, Rights.PATH_UNLINK_FILE, path, length, false, (dir, name, trailingSlash) => {
        // `file/` names a directory: unlinking it is ENOTDIR for a file, EISDIR for a directory.
        if (trailingSlash) return fs.lstatSync(below(dir, name)).isDirectory() ? Errno.ISDIR : Errno.NOTDIR;
        fs.unlinkSync(below(dir, name));
        return ok;
      }),
    poll_oneoff: (inPointer: number, outPointer: number, count: number, pointer: number) =>
      pollOneoff(m, w.stdin, (fd) => w.readsStdin(fd), inPointer, outPointer, count, pointer),
    proc_exit: (code: number): number => {
      throw new Error(`proc_exit(${code}) must be routed by the runtime`);
    },
    proc_raise: () => Errno.NOSYS,
    sched_yield: () => ok,
    random_get: (pointer: number, length: number) => {
      // Filled in place, a chunk at a time: a view checked against the memory first, no copy.
      const target = m.bytes(pointer, length);
      for (let at = 0; at < length; at += RANDOM_CHUNK) randomFillSync(target, at, Math.min(RANDOM_CHUNK, length - at));
      return ok;
    },
    sock_accept: () => Errno.NOTSUP,
    sock_recv: () => Errno.NOTSUP,
    sock_send: () => Errno.NOTSUP,
    // No sockets here: a descriptor that is open is not one.
    sock_shutdown: (fd: number) => w.withFd(fd, 0, () => Errno.NOTSOCK),
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
