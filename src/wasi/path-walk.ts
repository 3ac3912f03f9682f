/**
 * Guest paths resolved one component at a time from a directory that is already open, so that no
 * checked string is ever resolved again by the host: the program's own threads may swap symlinks and
 * directories at any moment, and the worst they can get is an error.
 *
 * Node has no `openat`, but on Linux `/proc/self/fd/<dirfd>/<name>` resolves exactly one component
 * relative to the open directory `dirfd`, and with `O_NOFOLLOW` a symlink there is not followed. So:
 * - each intermediate component is opened with `O_PATH | O_DIRECTORY | O_NOFOLLOW` below the
 *   directory held open before it;
 * - `..` goes back to the directory held open before (never a lookup of `..` on disk), and never
 *   above the directory the walk started from;
 * - a symlink met on the way is read (`readlink` of that one component) and its target walked by
 *   this code: an absolute target, or one that climbs above the start, is refused (ENOTCAPABLE);
 * - the final component is acted on by the caller with a call that does not follow symlinks itself
 *   (`O_NOFOLLOW` open, `lstat`, `lutimes`, `unlink`, `rename`, ...), relative to its parent's fd.
 *
 * Every directory fd a walk opens is closed before it returns.
 */
import { closeSync, constants, lstatSync, openSync, readlinkSync } from 'node:fs';
import { Errno, errnoOf } from './constants.js';

/** Linux's O_PATH (not in Node's fs.constants): an fd that only names a place, for lookups below it. */
const O_PATH = 0o10000000;
/** Like Linux's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;
/** Like Linux's PATH_MAX: a longer guest path (or symlink target) is ENAMETOOLONG. */
export const MAX_PATH_BYTES = 4096;
/**
 * Directories one walk may hold open at once (each level below the start holds one, for `..`). A
 * program could build a tree thousands of levels deep; without a bound one path call would take
 * that many of the process's descriptors.
 */
const MAX_DEPTH = 256;

/** True where the walk's primitive exists; elsewhere the shared WASI offers no preopens. */
export const pathWalkSupported = process.platform === 'linux';

/** The one-component path of `name` below the open directory `dirFd`. */
export function below(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** The directory `dirFd` itself, as a path (for `readdir`). */
export function itself(dirFd: number): string {
  return `/proc/self/fd/${dirFd}`;
}

/** What an action on the final component answers when that component is a symlink it should follow. */
export const FOLLOW = Symbol('follow the symlink');

/**
 * The caller's action on the final component: `dirFd` is its parent, held open, and `name` a single
 * component (or '.' for the directory itself). It returns an errno, or FOLLOW to have the symlink
 * `name` read and its target walked. node:fs errors it throws become their errno.
 */
export type FinalAction = (dirFd: number, name: string, mustBeDirectory: boolean) => number | typeof FOLLOW;

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

class Walk {
  /** Directories held open: [0] is the start (not ours), the rest were opened by this walk. */
  private readonly stack: number[];
  private symlinks = 0;

  constructor(start: number) {
    this.stack = [start];
  }

  get top(): number {
    return this.stack[this.stack.length - 1]!;
  }

  /** `..`: back to the directory held before; never above the start. */
  up(): number {
    if (this.stack.length === 1) return Errno.NOTCAPABLE;
    closeSync(this.stack.pop()!);
    return Errno.SUCCESS;
  }

  /** Steps into the directory `name`, or tells that it is a symlink (FOLLOW), or fails. */
  down(name: string): number | typeof FOLLOW {
    if (this.stack.length > MAX_DEPTH) return Errno.NAMETOOLONG;
    try {
      this.stack.push(openSync(below(this.top, name), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW));
      return Errno.SUCCESS;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A symlink answers ENOTDIR (or ELOOP) under O_DIRECTORY | O_NOFOLLOW.
      if ((code === 'ENOTDIR' || code === 'ELOOP') && isSymlink(this.top, name)) return FOLLOW;
      return errnoOf(error);
    }
  }

  /** The target of the symlink `name` as components to walk next, or an errno. */
  follow(name: string): string[] | number {
    if (++this.symlinks > MAX_SYMLINKS) return Errno.LOOP;
    let target: string;
    try {
      target = readlinkSync(below(this.top, name));
    } catch (error) {
      return errnoOf(error);
    }
    if (target.startsWith('/')) return Errno.NOTCAPABLE;
    if (Buffer.byteLength(target) > MAX_PATH_BYTES) return Errno.NAMETOOLONG;
    if (target === '') return Errno.NOENT;
    return components(target);
  }

  close(): void {
    for (const fd of this.stack.slice(1)) closeSync(fd);
    this.stack.length = 1;
  }
}

/** Whether `name` below `dirFd` is a symlink (a look only: what acts on it must not follow it). */
export function isSymlink(dirFd: number, name: string): boolean {
  try {
    return lstatSync(below(dirFd, name)).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Resolves the guest `path` below the open directory `startFd` and runs `act` on its final
 * component. `followFinal`: a final symlink is followed (when `act` answers FOLLOW); without it,
 * `act` sees the link itself. Returns `act`'s errno, or the errno that stopped the walk.
 */
export function walkPath(startFd: number, path: string, followFinal: boolean, act: FinalAction): number {
  if (path === '') return Errno.NOENT;
  if (path.includes('\0')) return Errno.INVAL;
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return Errno.NAMETOOLONG;
  if (path.startsWith('/')) return Errno.NOTCAPABLE;
  const mustBeDirectory = path.endsWith('/');
  const pending = components(path).reverse(); // a stack: the next component is last
  const walk = new Walk(startFd);
  try {
    for (;;) {
      const name = pending.pop();
      if (name === undefined) return act(walk.top, '.', true) as number; // the path named the start, or a directory by `..`
      if (name === '..') {
        const up = walk.up();
        if (up !== Errno.SUCCESS) return up;
        continue;
      }
      const last = pending.length === 0;
      // What `act` throws is caught below, like the walk's own errors.
      const step = last ? act(walk.top, name, mustBeDirectory) : walk.down(name);
      if (step !== FOLLOW) {
        if (last || step !== Errno.SUCCESS) return step;
        continue;
      }
      if (last && !followFinal) return Errno.LOOP;
      const target = walk.follow(name);
      if (typeof target === 'number') return target;
      pending.push(...target.reverse());
    }
  } catch (error) {
    return errnoOf(error);
  } finally {
    walk.close();
  }
}

/**
 * For actions that follow a final symlink: FOLLOW when `name` is one, else runs `then`. A swap
 * between the look and `then` is harmless: `then` must itself not follow symlinks.
 */
export function unlessSymlink(dirFd: number, name: string, follow: boolean, then: () => number): number | typeof FOLLOW {
  return follow && isSymlink(dirFd, name) ? FOLLOW : then();
}
