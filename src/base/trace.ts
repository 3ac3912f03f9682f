/**
 * The debug trace: `NODE_DEBUG=wasi-threads` (read once, in each thread, as Node's `util.debuglog`
 * does) logs spawns (warm, cold, refused), threads starting and returning, traps and exits, one
 * line each to stderr, with the thread id and a time in ms (`performance.timeOrigin` based, so the
 * lines of every thread compare). Off, each call site is a branch on a constant.
 */
import { writeSync } from 'node:fs';
import { debuglog } from 'node:util';
import { threadId } from 'node:worker_threads';

export const TRACE = debuglog('wasi-threads').enabled;

/** Writes one trace line (call it behind `if (TRACE)`). Written at once, so that lines of all threads keep their order. */
export function trace(event: string): void {
  const at = (performance.timeOrigin + performance.now()).toFixed(3);
  try {
    writeSync(2, `WASI-THREADS ${process.pid} ${at} [worker ${threadId}]: ${event}\n`);
  } catch {
    // A trace that cannot be written is dropped: it must never end the program.
  }
}
