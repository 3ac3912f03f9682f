/**
 * A pool worker: parks on its slot (shared/control/slot-mailbox.ts) and runs every thread a spawn
 * hands it, going back on the idle stack after each, until its slot is recalled.
 */
import { TRACE, trace } from '../base/trace.js';
import type { SharedControl } from '../shared/control/control.js';
import { SpinPolicy } from '../shared/control/slot-mailbox.js';
import { bufferCovering, PAGE_BYTES } from '../shared/memory-growth.js';
import type { BootData } from '../shared/messages.js';
import { answerReply } from '../shared/reply-cell.js';
import { leave, reportAbnormalEnd, type WorkerLink } from './worker-link.js';

export function runPooledThreads(
  boot: BootData,
  control: SharedControl,
  instance: WebAssembly.Instance,
  memory: WebAssembly.Memory | undefined,
  current: { current: number },
  link: WorkerLink,
): void {
  const threadStart = instance.exports.wasi_thread_start as (tid: number, startArg: number) => void;
  if (boot.coldReply) answerReply(boot.coldReply, control.slots.assignedTid(boot.slot));
  else control.idle.poolWorkerReady(boot.slot);
  link.post({ type: 'ready' });
  const spin = new SpinPolicy();
  for (;;) {
    if (!control.slots.awaitAssignment(boot.slot, spin)) return leave(link);
    const tid = control.slots.assignedTid(boot.slot);
    current.current = tid;
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
  }
}
