/**
 * The `wasi.thread-spawn` import. It runs inside whichever worker's wasm calls it (threads spawn
 * threads), so the warm path touches only the shared control block: no postMessage, no promise.
 */

import { ModuleRequirementError } from '../base/errors.js';
import { TRACE, trace } from '../base/trace.js';
import type { SharedControl } from '../shared/control/control.js';
import { awaitReply, createReplyCell, type ReplyCell } from '../shared/reply-cell.js';
import { Errno } from '../wasi/constants.js';

/** A refused spawn returns -EAGAIN (wasi-libc's pthread_create turns any negative result into EAGAIN). */
const EAGAIN = Errno.AGAIN;

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

const START_SPAWNS =
  "the module's start function calls wasi.thread-spawn: a start function runs while each thread's instance is made, and cannot spawn (spawn from _start or an export instead)";

/** Asks the coordinator for a new worker and blocks until it runs `tid` (or returns a negative errno). */
export type ColdSpawn = (tid: number, startArg: number) => number;

/**
 * `pooled`: false for poolSize 0, where every spawn starts a worker of its own (the cold way) at once.
 * `memoryPages`: the shared memory's size as this thread sees it (see `SlotMailbox.assignedPages`).
 * `traced`: false for the warm-up's spawn on a scratch block, which the debug trace leaves out.
 * `instance.making`: true while this thread's instance is made; a spawn then (from the module's
 * start function) throws a ModuleRequirementError (a check here, not a wrapper: a wrapper's extra
 * call cost 2% of a warm spawn, measured).
 */
export function createThreadSpawn(
  control: SharedControl,
  coldSpawn: ColdSpawn,
  pooled = true,
  memoryPages: () => number = () => 0,
  traced = TRACE,
  instance: { making: boolean } = { making: false },
): (startArg: number) => number {
  return function threadSpawn(startArg: number): number {
    if (instance.making) throw new ModuleRequirementError(START_SPAWNS);
    // At the limit: a thread the caller just joined has returned from its wasm but is counted until
    // its worker is back, a moment later. Wait for that (briefly) rather than refuse the spawn.
    const live = control.threads.admit(LIMIT_GRACE_MS);
    if (live === 0) {
      if (traced) trace('spawn refused: EAGAIN (maxThreads threads alive, or the program is ending)');
      return -EAGAIN;
    }
    const tid = control.threads.nextTid();
    let slot = control.idle.claim();
    if (slot < 0 && pooled) slot = awaitIdleSlot(control, live);
    if (slot >= 0) {
      if (!control.slots.assign(slot, tid, startArg, memoryPages())) {
        // Recalled: the program is ending.
        control.threads.refused();
        if (traced) trace(`spawn of thread ${tid} refused: EAGAIN (the program is ending)`);
        return -EAGAIN;
      }
      control.warmSpawned();
      if (traced) trace(`spawn: thread ${tid} warm, claimed pool slot ${slot} (start_arg ${startArg})`);
      return tid;
    }
    const result = coldSpawn(tid, startArg);
    if (result < 0) control.threads.refused();
    else control.threads.countCold();
    if (traced)
      trace(result < 0 ? `spawn of thread ${tid} refused: EAGAIN (no worker could be had)` : `spawn: thread ${tid} cold, a new worker (start_arg ${startArg})`);
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
  const coming = () => control.idle.workerComing();
  // Announced while pool workers are to come: a pool start the coordinator put off (the program's
  // threads held every CPU) goes on now that a spawn waits for it.
  const announce = control.idle.poolWorkersComing();
  let slot = control.idle.claimWithin(COMING_WAIT_MS, (elapsedMs) => coming() || (live > 1 && elapsedMs < RETURN_GRACE_MS), announce);
  if (slot >= 0 || !control.threads.running()) return slot;
  control.idle.requestWorker();
  slot = control.idle.claimWithin(COMING_WAIT_MS, coming);
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
