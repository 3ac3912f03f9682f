/**
 * The `wasi.thread-spawn` import. It runs inside whichever worker's wasm calls it (threads spawn
 * threads), so the warm path touches only the shared control block: no postMessage, no promise.
 */

import type { SharedControl } from './control.js';
import { awaitReply, createReplyCell, type ReplyCell } from './reply-cell.js';

/** wasi-libc turns any negative result into EAGAIN; this is its errno value. */
export const EAGAIN = 6;

/**
 * With other threads alive, how long a spawn that finds no idle worker waits for one of them to
 * come back before it starts a new worker: a thread the spawner has just joined woke it from its
 * wasm and is about to return (a cold start costs ~1000x more).
 */
const RETURN_GRACE_MS = 2;
/**
 * The longest a spawn waits while a worker is sure to come: a thread out of `wasi_thread_start`
 * on its way back, or an initial pool worker still starting (the program does not wait for its
 * pool; its first spawns wait for the first pool worker instead of starting yet another).
 */
const COMING_WAIT_MS = 5000;
/**
 * How long a spawn at the maxThreads limit waits for a live thread to be counted out. A thread the
 * caller has just joined has woken the joiner from inside its wasm and is counted until its worker
 * is back, a moment later (longer on a loaded machine). A spawn past a real limit fails this late.
 */
const LIMIT_GRACE_MS = 20;

/** Asks the coordinator for a new worker and blocks until it runs `tid` (or returns a negative errno). */
export type ColdSpawn = (tid: number, startArg: number) => number;

/**
 * `pooled`: false for poolSize 0, where every spawn starts a worker of its own (the cold way) at once.
 * `memoryPages`: the shared memory's size as this thread sees it (see `SharedControl.assignedPages`).
 */
export function createThreadSpawn(
  control: SharedControl,
  coldSpawn: ColdSpawn,
  pooled = true,
  memoryPages: () => number = () => 0,
): (startArg: number) => number {
  return function threadSpawn(startArg: number): number {
    // At the limit: a thread the caller just joined has returned from its wasm but is counted until
    // its worker is back, a moment later. Wait for that (briefly) rather than refuse the spawn.
    const live = control.admitThread(LIMIT_GRACE_MS);
    if (live === 0) return -EAGAIN;
    const tid = control.nextTid();
    let slot = control.claimIdleSlot();
    if (slot < 0 && pooled) slot = awaitIdleSlot(control, live);
    if (slot >= 0) {
      if (!control.assign(slot, tid, startArg, memoryPages())) {
        // Recalled: the program is ending.
        control.spawnFailed();
        return -EAGAIN;
      }
      control.warmSpawned();
      return tid;
    }
    const result = coldSpawn(tid, startArg);
    if (result < 0) control.spawnFailed();
    else control.coldSpawned();
    return result;
  };
}

/**
 * No worker is idle. Waits while one is sure to come (a thread on its way back, a pool worker
 * starting) or, with other threads alive, may come (RETURN_GRACE_MS). If none did, asks the
 * coordinator for one more pool worker, once, and waits for whichever comes first: that one or a
 * returning thread's. Returns -1 only if nothing came within COMING_WAIT_MS (or the program is
 * ending, or the runtime could not start a worker): the spawn then goes the cold way.
 */
function awaitIdleSlot(control: SharedControl, live: number): number {
  const coming = () => control.workerComing();
  // Announced while pool workers are to come: a pool start the coordinator put off (the program's
  // threads held every CPU) goes on now that a spawn waits for it.
  const announce = control.poolWorkersComing();
  let slot = control.claimIdleSlotWithin(COMING_WAIT_MS, (elapsedMs) => coming() || (live > 1 && elapsedMs < RETURN_GRACE_MS), announce);
  if (slot >= 0 || !control.running()) return slot;
  control.requestWorker();
  slot = control.claimIdleSlotWithin(COMING_WAIT_MS, coming);
  return slot;
}

/** The cold path as seen from a worker: one message to the coordinator, then a blocking wait on a private word. */
export function coldSpawnVia(post: (message: { type: 'cold-spawn'; tid: number; startArg: number; reply: ReplyCell }) => void): ColdSpawn {
  return (tid, startArg) => {
    const reply = createReplyCell();
    post({ type: 'cold-spawn', tid, startArg, reply });
    // The new worker answers with the tid once it is instantiated; the coordinator with -EAGAIN.
    return awaitReply(reply);
  };
}
