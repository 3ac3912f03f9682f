/**
 * Who owns a program's host descriptors, and the protocol around them. Every host fd a program's
 * descriptor table holds is opened and closed by the coordinator (the main JS thread), which lives
 * as long as the program:
 * - a worker's own fds die with the worker (Node closes them when it exits), and pool workers come
 *   and go while the program runs, so they must not own what the shared table refers to;
 * - the program's end closes exactly the host fds it opened (`owned`), never the caller's stdio fds
 *   and never another program's.
 *
 * The protocol (worker -> coordinator messages; the worker holds a reference on the directory's
 * handle for the whole request, so its host fd stays open):
 * - `path-open`: the coordinator walks the path below the directory (path-walk.ts), opens the final
 *   component, adds the host fd to the program's `owned` set and answers it through a reply cell
 *   (or `-errno`; `-WOULD_BLOCK` for a FIFO with no reader yet, which the worker retries after a nap).
 * - `fd-close`: the last user of a closed descriptor hands its host fd back; the coordinator closes
 *   it if the program owns it. No reply: nothing can use that descriptor any more.
 */

import { closeSync, constants, fstatSync, openSync, realpathSync, statSync } from 'node:fs';
import { isatty } from 'node:tty';
import { InvalidOptionError } from '../base/errors.js';
import type { WasiOptions } from '../base/options.js';
import type { FdRequest } from '../shared/messages.js';
import { answerReply, awaitReply, createReplyCell } from '../shared/reply-cell.js';
import { ALL_RIGHTS, DIRECTORY_INHERITING, Errno, errnoOf, Fdflags, Filetype, filetypeOf, RightsOf } from './constants.js';
import { FdTable, MAX_FDS, type Released } from './fd-table.js';
import { below, FOLLOW, isSymlink, pathWalkSupported, walkPath } from './path-walk.js';

/**
 * Host fd numbers that stand for a run's relayed stdio: no host fd, the coordinator serves them
 * (stdin from the run's bytes, stdout and stderr into the run's buffers or streams).
 */
export const RELAYED = { stdin: -2, stdout: -3, stderr: -4 } as const;

/** The answer to `path-open` for a FIFO whose other end is not open yet (the host's ENXIO). */
export const WOULD_BLOCK = -1_000_000;

/** What a worker's WASI asks of the owner. */
export interface FdOwnerClient {
  /** Opens `path` below the open directory `dirFd`; returns the host fd, or a negative errno / WOULD_BLOCK. */
  openBelow(dirFd: number, path: string, follow: boolean, flags: number): number;
  /** Hands back a host fd that no descriptor refers to any more. */
  release(released: Released): void;
}

export function fdOwnerVia(post: (request: FdRequest) => void): FdOwnerClient {
  return {
    openBelow(dirFd, path, follow, flags) {
      const reply = createReplyCell();
      post({ type: 'path-open', dirFd, path, follow, flags, reply });
      return awaitReply(reply);
    },
    release({ hostFd, owned }) {
      if (owned) post({ type: 'fd-close', hostFd });
    },
  };
}

/** The coordinator's side of one program's WASI. */
export interface ProgramWasi {
  table: FdTable;
  /** The guest names of the preopens, fd 3 on. */
  preopens: string[];
  /** Every host fd opened for this program and not closed yet. */
  owned: Set<number>;
}

/** The guest names of a program's preopens and the host directory fds opened for them. */
export interface OpenedPreopens {
  names: string[];
  hostFds: number[];
}

/** A program's WASI with the caller's stdio (or the process's) and its preopens: what a program of its own gets. */
export function createProgramWasi(options: WasiOptions): ProgramWasi {
  const opened = openPreopens(options.preopens ?? {});
  const program = emptyProgramWasi();
  installStdio(program, [options.stdin ?? 0, options.stdout ?? 1, options.stderr ?? 2]);
  installPreopens(program, opened);
  return program;
}

/** A program's WASI with an empty descriptor table, filled later (a prepared run's is filled when it starts). */
export function emptyProgramWasi(tableBuffer?: SharedArrayBuffer): ProgramWasi {
  const owned = new Set<number>();
  const table = FdTable.create((released) => closeOwned(program, released.hostFd), tableBuffer);
  const program: ProgramWasi = { table, preopens: [], owned };
  return program;
}

/** A prepared run's descriptors, when it starts: fds 0-2 (see `installStdio`) and its preopens. */
export function installRunDescriptors(program: ProgramWasi, stdio: number[], preopens: OpenedPreopens): void {
  installStdio(program, stdio);
  installPreopens(program, preopens);
}

/**
 * Installs fds 0-2: host fds (the process's stdio, or the caller's fds: never closed by the library)
 * or RELAYED numbers, which the coordinator serves.
 */
export function installStdio(program: ProgramWasi, stdio: number[]): void {
  stdio.forEach((hostFd, fd) => {
    let filetype: number = Filetype.UNKNOWN;
    let tty = false;
    let pipe = false;
    if (hostFd < 0) {
      filetype = Filetype.SOCKET_STREAM; // a relay behaves like a pipe
    } else {
      try {
        const stats = fstatSync(hostFd);
        filetype = filetypeOf(stats);
        pipe = stats.isFIFO();
      } catch {
        /* a closed stdio fd: calls on it fail with the host's error */
      }
      tty = isatty(hostFd);
    }
    // Like node:wasi, stdout and stderr report APPEND.
    const rightsBase = hostFd < 0 || tty || filetype === Filetype.SOCKET_STREAM ? RightsOf.stream : ALL_RIGHTS;
    // The process's own stdin (host fd 0) is read through the coordinator, never here.
    const twin = pipe && (fd > 0 || hostFd !== 0) ? nonBlockingTwin(hostFd, fd === 0 ? constants.O_RDONLY : constants.O_WRONLY) : undefined;
    if (twin !== undefined) program.owned.add(twin);
    program.table.install(fd, {
      hostFd: twin ?? hostFd,
      filetype,
      fdflags: fd === 0 ? 0 : Fdflags.APPEND,
      preopen: -1,
      tty,
      owned: twin !== undefined,
      rightsBase,
      rightsInheriting: 0,
    });
  });
}

/**
 * A non-blocking fd of its own on the pipe that the stdio `hostFd` reads or writes (`access`; Linux
 * reopens a pipe through /proc/self/fd), or undefined where there is none (another platform, a pipe
 * without a reader). A write to a full pipe, or a read of an empty one, through `hostFd` itself,
 * which is blocking unless the rest of the process made it otherwise, would block its thread in the
 * kernel, where ending the worker cannot reach it: a run whose stdout nobody read outlived its
 * timeout until the pipe drained (measured: timeoutMs 2000, settled after 24 s). Through this one
 * it waits in terminable naps instead (see `untilReady` in preview1.ts). The program owns it:
 * closed at its end, and the caller's `hostFd` is never touched.
 */
function nonBlockingTwin(hostFd: number, access: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return openSync(`/proc/self/fd/${hostFd}`, access | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
}

/**
 * Opens the host directory of every preopen; throws InvalidOptionError (having closed what it
 * opened) when one cannot be used. The fds belong to the caller until `installPreopens`.
 */
export function openPreopens(preopens: Record<string, string>): OpenedPreopens {
  const entries = Object.entries(preopens);
  const opened: OpenedPreopens = { names: [], hostFds: [] };
  if (entries.length > 0 && !pathWalkSupported) {
    throw new InvalidOptionError(
      `wasiOptions.preopens: the shared WASI's sandbox needs Linux (/proc/self/fd) and this is ${process.platform}; ` +
        "run without preopens, or choose wasiImplementation: 'node', which is no sandbox",
    );
  }
  for (const [guest, hostPath] of entries) {
    try {
      if (opened.names.length + 3 >= MAX_FDS) throw new Error(`too many preopens: at most ${MAX_FDS - 3}`);
      const host = realpathSync(hostPath);
      if (!statSync(host).isDirectory()) throw new Error('not a directory');
      opened.hostFds.push(openSync(host, constants.O_RDONLY | constants.O_DIRECTORY));
      opened.names.push(guest);
    } catch (error) {
      closePreopens(opened);
      throw new InvalidOptionError(`wasiOptions.preopens["${guest}"]: "${hostPath}" cannot be used as a directory (${(error as Error).message})`);
    }
  }
  return opened;
}

/** Closes preopens that were opened and never installed. */
export function closePreopens(opened: OpenedPreopens): void {
  for (const hostFd of opened.hostFds) {
    try {
      closeSync(hostFd);
    } catch {
      /* already gone */
    }
  }
  opened.hostFds = [];
}

/** Puts the preopens at fd 3 on; the program owns their host fds from now on. */
export function installPreopens(program: ProgramWasi, opened: OpenedPreopens): void {
  opened.hostFds.forEach((hostFd, i) => {
    program.owned.add(hostFd);
    program.table.install(3 + i, {
      hostFd,
      filetype: Filetype.DIRECTORY,
      fdflags: 0,
      preopen: i,
      tty: false,
      owned: true,
      rightsBase: RightsOf.directory,
      rightsInheriting: DIRECTORY_INHERITING,
    });
  });
  program.preopens = [...opened.names];
}

/** The coordinator's side of the protocol: answers a worker's request about the program's fds. */
export function serveFdRequest(program: ProgramWasi, request: FdRequest): void {
  if (request.type === 'path-open') answerReply(request.reply, openBelow(program, request));
  else closeOwned(program, request.hostFd);
}

/**
 * Serves `path-open`: walks `path` below `dirFd` without ever letting the host follow a symlink, and
 * opens the final component with O_NOFOLLOW. Every open is non-blocking, so that a FIFO (which the
 * program may put there at any moment, even by a hard link) never blocks this thread; reads and
 * writes that would block wait in the worker instead.
 */
function openBelow(program: ProgramWasi, request: Extract<FdRequest, { type: 'path-open' }>): number {
  const { dirFd, path, follow, flags } = request;
  let hostFd = -1;
  let wouldBlock = false;
  const errno = walkPath(dirFd, path, follow, (parent, name, mustBeDirectory) => {
    const finalFlags = flags | constants.O_NOFOLLOW | constants.O_NONBLOCK | (mustBeDirectory ? constants.O_DIRECTORY : 0);
    try {
      hostFd = openSync(below(parent, name), finalFlags, 0o666);
      return Errno.SUCCESS;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENXIO') wouldBlock = true;
      // A symlink answers ELOOP under O_NOFOLLOW (ENOTDIR with O_DIRECTORY): follow it ourselves.
      if (follow && (code === 'ELOOP' || code === 'ENOTDIR') && isSymlink(parent, name)) return FOLLOW;
      return errnoOf(error);
    }
  });
  if (errno !== Errno.SUCCESS) return wouldBlock ? WOULD_BLOCK : -errno;
  program.owned.add(hostFd);
  return hostFd;
}

/** Closes `hostFd` if this program opened it and has not closed it yet. */
function closeOwned(program: ProgramWasi, hostFd: number): void {
  if (!program.owned.delete(hostFd)) return;
  try {
    closeSync(hostFd);
  } catch {
    /* already gone */
  }
}

/**
 * Closes every host fd the program still owns, and recycles its table; its threads have all ended,
 * or are terminated and blocked in a write to a caller's fd (`workersLeftBehind`): then the table
 * is not recycled, since such a thread may still release its handle once the write returns.
 * `keepTable` (a runtime's pool that passes to its next run with the table's buffer): the table is
 * emptied in place instead, unless a worker was left behind.
 */
export function closeProgramWasi(program: ProgramWasi, workersLeftBehind = false, keepTable = false): void {
  for (const hostFd of [...program.owned]) closeOwned(program, hostFd);
  if (workersLeftBehind) return;
  if (keepTable) program.table.keep();
  else program.table.recycle();
}
