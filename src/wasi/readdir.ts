/**
 * fd_readdir, paging through a snapshot of the directory. The listing is this thread's last: read
 * when a listing starts (cookie 0), or when the descriptor is no longer open on the directory it
 * was read from. Each call then costs only its own entries, and a file made or removed meanwhile
 * neither repeats nor skips one. The directory is always the one the descriptor is open on,
 * wherever it has been moved: never a stored path.
 */
import * as fs from 'node:fs';
import { Dirent } from './abi.js';
import { Errno, Filetype, filetypeOf } from './constants.js';
import type { Handle } from './fd-table.js';
import type { GuestMemory } from './guest-memory.js';
import { below, itself } from './path-walk.js';

const encoder = new TextEncoder();

export class DirectoryListing {
  private listing: { hostFd: number; dev: bigint; ino: bigint; names: string[] } | undefined;

  /** Forgets the listing (a later run may open another directory at the same fd, on the same inode). */
  forget(): void {
    this.listing = undefined;
  }

  /** fd_readdir on `entry` (held by the caller), into the program's memory at `buffer`. */
  read(memory: GuestMemory, entry: Handle, buffer: number, length: number, cookie: bigint, usedPointer: number): number {
    if (entry.filetype !== Filetype.DIRECTORY) return Errno.NOTDIR;
    const out = memory.bytes(buffer, length); // checked against the memory before anything is read
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
    memory.view(usedPointer + 4).setUint32(usedPointer, used, true);
    return Errno.SUCCESS;
  }
}
