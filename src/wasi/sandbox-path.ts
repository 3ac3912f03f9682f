/**
 * Guest paths never leave their preopen: `..` above the preopen's root, absolute paths and symlinks
 * that lead outside are refused with ENOTCAPABLE. This is the runtime's security boundary.
 */
import { lstatSync, realpathSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { Errno, Filetype } from './constants.js';
import type { FdEntry } from './fd-table.js';

export interface Preopen {
  /** The path the program sees. */
  guest: string;
  /** The host directory, already resolved with realpath. */
  host: string;
}

export interface ResolvedPath {
  host: string;
  /** Relative to the preopen's root, normalized. */
  relative: string;
  root: number;
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root + sep);
}

/** realpath of `path`, or of its deepest existing ancestor with the rest appended. */
function realpathOfExisting(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    try {
      // A symlink that leads nowhere cannot be checked: refuse to follow it.
      if (lstatSync(path).isSymbolicLink()) return undefined;
    } catch {
      /* does not exist: check its parent */
    }
    const parent = dirname(path);
    if (parent === path) return path;
    const real = realpathOfExisting(parent);
    return real === undefined ? undefined : join(real, path.slice(parent.length));
  }
}

/**
 * Resolves `path` against the directory entry `dir`. With `followFinal`, the final component may
 * be a symlink to follow; without, it is the link itself (unlink, readlink, lstat).
 */
export function resolvePath(preopens: Preopen[], dir: FdEntry, path: string, followFinal: boolean): ResolvedPath | number {
  if (dir.filetype !== Filetype.DIRECTORY || dir.root < 0) return Errno.NOTDIR;
  if (path === '') return Errno.NOENT;
  if (path.includes('\0')) return Errno.INVAL;
  if (path.startsWith('/')) return Errno.NOTCAPABLE;
  const segments: string[] = dir.path === '' ? [] : dir.path.split('/');
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return Errno.NOTCAPABLE;
      segments.pop();
    } else {
      segments.push(segment);
    }
  }
  const root = preopens[dir.root]!.host;
  const relative = segments.join('/');
  const host = relative === '' ? root : join(root, relative);
  const checked = followFinal || relative === '' ? host : dirname(host);
  const real = realpathOfExisting(checked);
  if (real === undefined || !inside(root, real)) return Errno.NOTCAPABLE;
  return { host, relative, root: dir.root };
}
