/** path_open: the access mode and flags from the rights asked for, and the host fd opened by the coordinator. */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { DIRECTORY_INHERITING, Errno, errnoOf, Fdflags, Filetype, filetypeOf, LOOKUP_SYMLINK_FOLLOW, Oflags, Rights, RightsOf } from './constants.js';
import { sleepMs } from './fd-io.js';
import { type FdOwnerClient, WOULD_BLOCK } from './fd-owner.js';
import type { FdTable, Handle } from './fd-table.js';
import type { GuestMemory } from './guest-memory.js';

/** What path_open works on: one thread's view of the program's WASI (SharedWasi). */
export interface PathOpenContext {
  readonly memory: GuestMemory;
  readonly table: FdTable;
  readonly owner: FdOwnerClient;
  withFd(fd: number, needs: number, call: (handle: Handle) => number): number;
}

export function pathOpen(
  w: PathOpenContext,
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
  const path = w.memory.path(pathPointer, pathLength);
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
  return w.withFd(dirFd, needs, (dir) => {
    if (dir.filetype !== Filetype.DIRECTORY) return Errno.NOTDIR;
    // Rights a descriptor below `dir` may never have.
    if (rightsBase < 0 || rightsInheriting < 0 || (rightsBase & ~dir.rightsInheriting) !== 0 || (rightsInheriting & ~dir.rightsInheriting) !== 0) {
      return Errno.NOTCAPABLE;
    }
    // The coordinator opens it (it owns every host fd of the program), non-blocking: a FIFO
    // whose writer is not there yet is waited for here, in terminable naps.
    let hostFd: number;
    for (;;) {
      hostFd = w.owner.openBelow(dir.hostFd, path, follow, flags);
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
      w.owner.release(entry);
      return errnoOf(error);
    }
    const fd = w.table.open(entry);
    if (fd < 0) {
      w.owner.release(entry);
      return Errno.MFILE;
    }
    w.memory.view(fdPointer + 4).setUint32(fdPointer, fd, true);
    return Errno.SUCCESS;
  });
}
