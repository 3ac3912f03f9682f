/**
 * A pool worker: parks on its slot (shared/control/slot-mailbox.ts) and runs every thread a spawn
 * hands it, going back on the idle stack after each, until its slot is recalled.
 *
 * A runtime's pool worker may stay parked from one run to the next (`SharedControl.rearm`). Its
 * instance belongs to the run it was made for: before it runs a thread of another run, it makes a
 * new one (`reinstantiate`), its WASI readied for the run, so that no global, table or WASI state of
 * one run reaches the next; a worker no spawn of a run claims does nothing for that run.
 */
import { TRACE, trace } from '../base/trace.js';
import type { SharedControl } from '../shared/control/control.js';
import { SpinPolicy } from '../shared/control/slot-mailbox.js';
import { bufferCovering, PAGE_BYTES } from '../shared/memory-growth.js';
import { type BootData, errorInfo } from '../shared/messages.js';
import { answerReply } from '../shared/reply-cell.js';
import { leave, reportAbnormalEnd, type WorkerLink } from './worker-link.js';

/** A thread's instance of the program in this worker, and the memory it shares. */
export interface ThreadInstance {
  instance: WebAssembly.Instance;
  shared: WebAssembly.Memory | undefined;
}

/** What a runtime's pool worker, kept parked from one run to the next (`SharedControl.rearm`), does for a later run. */
export interface PooledLaterRuns {
  /**
   * Resets the worker's instance (or makes a new one), its WASI readied for the run its control
   * block serves now: when a spawn first hands the worker a thread of a later run. Undefined when
   * it could not (reported).
   */
  reinstantiate(): ThreadInstance | undefined;
  /**
   * Once a later run's first thread on this worker has returned, and the worker is back on the stack:
   * its share of collections (it never goes back to its loop, where they are made after each program).
   */
  afterRun(): void;
}

export function runPooledThreads(
  boot: BootData,
  control: SharedControl,
  made: ThreadInstance,
  current: { current: number },
  link: WorkerLink,
  later?: PooledLaterRuns,
): void {
  let { instance, shared: memory } = made;
  let madeFor = boot.run;
  /** The last run whose collections this worker took (see `PooledLaterRuns.afterRun`). */
  let collectedFor = boot.run;
  let threadStart = instance.exports.wasi_thread_start as (tid: number, startArg: number) => void;
  if (boot.coldReply) answerReply(boot.coldReply, control.slots.assignedTid(boot.slot));
  else control.idle.poolWorkerReady(boot.slot);
  link.post({ type: 'ready' });
  const spin = new SpinPolicy();
  for (;;) {
    if (!control.slots.awaitAssignment(boot.slot, spin)) return leave(link);
    const tid = control.slots.assignedTid(boot.slot);
    current.current = tid;
    const run = control.threads.currentRun();
    if (run !== madeFor) {
      // A thread of a later run: never on the instance (or WASI) of an earlier one.
      const fresh = later?.reinstantiate();
      if (!fresh) {
        if (!later) link.post({ type: 'fatal', error: errorInfo(new Error(`a pool worker of run ${madeFor} was handed a thread of run ${run}`)) });
        return leave(link);
      }
      ({ instance, shared: memory } = fresh);
      threadStart = instance.exports.wasi_thread_start as (tid: number, startArg: number) => void;
      madeFor = run;
      if (TRACE) trace(`pool slot ${boot.slot} readied its instance for run ${run}`);
    }
    // The spawner may have grown the memory just before: this isolate looks now, not at V8's
    // interrupt, later (see memory-growth.ts).
    if (memory) bufferCovering(memory, control.slots.assignedPages(boot.slot) * PAGE_BYTES);
    if (TRACE) trace(`thread ${tid} starts on pool slot ${boot.slot}`);
    try {
      threadStart(tid, control.slots.assignedStartArg(boot.slot));
    } catch (error) {
      return reportAbnormalEnd(link, tid, error);
    }
    if (TRACE) trace(`thread ${tid} returned; its worker goes back to the pool`);
    // Back on the stack, whatever the pool's size: the coordinator trims a surplus that stays idle
    // (see `PoolPolicy.trimIdle`), so a spawn+join loop never retires a worker only to start another.
    control.idle.threadReturning();
    control.slots.markIdle(boot.slot);
    if (boot.poolSize === 0) {
      // No pool at all: every thread gets a worker of its own (poolSize 0 is how to measure cold spawns).
      control.idle.threadReturned();
      control.threads.countOut();
      link.post({ type: 'retire', slot: boot.slot });
      return leave(link);
    }
    control.idle.rejoin(boot.slot);
    control.idle.threadReturned();
    // Counted down only after the slot is back, so a spawn that passed the limit finds a worker.
    control.threads.countOut();
    // Here, not before its thread: a collection a spawn waits for would be that spawn's latency.
    if (later && madeFor !== collectedFor) {
      collectedFor = madeFor;
      later.afterRun();
    }
  }
}
