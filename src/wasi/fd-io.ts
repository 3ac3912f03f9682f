/**
 * Reads and writes on a descriptor's host fd, for one thread's WASI calls. No host call here can
 * block without end: every file the program opens is non-blocking, and a call that would block
 * naps in a terminable `Atomics.wait` and tries again; the process's stdin is read through the
 * coordinator (stdin-client.ts). A thread in any of them can always be terminated.
 */
import * as fs from 'node:fs';
import { Errno, Fdflags, Filetype } from './constants.js';
import { RELAYED } from './fd-owner.js';
import type { FdTable, Handle } from './fd-table.js';
import type { StdinClient } from './stdin-client.js';

/** The most one fd_write to a relayed stdout or stderr takes. */
const RELAY_CHUNK = 1 << 20;

/** The process's own stdin or the run's stdin bytes (not a file the program opened): read through the coordinator. */
export function readsProcessStdin(entry: Handle): boolean {
  return (entry.hostFd === 0 && !entry.owned) || entry.hostFd === RELAYED.stdin;
}

/** Sleeps in a terminable `Atomics.wait` (a host sleep would delay the program's end). */
export function sleepMs(ms: number): void {
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

export class FdIo {
  constructor(
    private readonly table: FdTable,
    private readonly stdin: StdinClient,
    /** Takes what the program writes to a relayed stdout or stderr. */
    private readonly output: ((stream: 1 | 2, bytes: Uint8Array) => void) | undefined,
  ) {}

  read(entry: Handle, buffers: Uint8Array[], position: bigint | null): number {
    if (readsProcessStdin(entry)) {
      const nonBlocking = (entry.fdflags & Fdflags.NONBLOCK) !== 0;
      return nonBlocking && !this.stdin.poll(0) ? -Errno.AGAIN : this.stdin.read(buffers);
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
  seekable(entry: Handle): boolean {
    return entry.filetype === Filetype.REGULAR_FILE && entry.owned;
  }

  write(entry: Handle, buffers: Uint8Array[], position: bigint | null): number {
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
    this.output!(stream, bytes);
    return total;
  }
}
