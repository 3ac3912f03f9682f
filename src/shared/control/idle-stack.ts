/**
 * The idle stack and the pool's places.
 *
 * A worker with no thread owns slot `s` and pushes `s` on the stack (`release`); a spawning thread
 * pops the most recently pushed slot (`claim`, compare-and-swap, never blocks) and hands it its
 * thread through the slot's mailbox (slot-mailbox.ts).
 *
 * The stack is a Treiber stack: one word holds the top slot and a tag that every push and pop
 * changes, so a pop that read a top which was popped and pushed again meanwhile (ABA) fails its
 * compare-and-swap and retries. No lock is held and no thread ever waits for another's progress.
 * LIFO matters: the slot pushed last belongs to the worker that ran most recently, which is still
 * spinning or has just parked, on a CPU that is not yet deeply idle (BENCHMARKS.md §1 has the
 * figures against a FIFO).
 *
 * The pool's places: PoolReserved counts workers on the stack and on their way onto it (a warm
 * spawn gives one place up, a returning worker takes it back); PoolStarting counts pool workers
 * started or asked for and not yet on the stack; Returning counts threads out of their wasm whose
 * worker is not back yet. A spawn that finds the stack empty waits while a worker is sure to come
 * (`workerComing`), and a push notifies only when spawns wait (IdleWaiters).
 */
import type { CoordinatorEvents } from './coordinator-events.js';
import { type ControlWords, Header, SLOT_BITS, SLOT_MASK, Slot, slotWord } from './layout.js';
import type { Threads } from './threads.js';

export class IdleStack {
  constructor(
    private readonly words: ControlWords,
    private readonly threads: Threads,
    private readonly events: CoordinatorEvents,
  ) {}

  /** Pops the most recently pushed idle slot, or returns -1 when the stack is empty. */
  claim(): number {
    const { words } = this.words;
    let top = Atomics.load(words, Header.IdleTop);
    for (;;) {
      const entry = top & SLOT_MASK;
      if (entry === 0) return -1;
      const below = Atomics.load(words, slotWord(entry - 1, Slot.Next));
      // A new tag: a racing pop-and-push of the same slot (ABA) makes this exchange fail.
      const seen = Atomics.compareExchange(words, Header.IdleTop, top, (((top >>> SLOT_BITS) + 1) << SLOT_BITS) | below);
      if (seen === top) return entry - 1;
      top = seen;
    }
  }

  /**
   * Like `claim`, but waits for a push while `worthWaiting()` says a worker may come back (a
   * returning thread, a starting pool worker), up to `graceMs` in all. Returns -1 if none came.
   * `announce`: signal the coordinator once counted as a waiter (it may have put a pool start off).
   */
  claimWithin(graceMs: number, worthWaiting: (elapsedMs: number) => boolean = () => true, announce = false): number {
    const { words } = this.words;
    const started = performance.now();
    Atomics.add(words, Header.IdleWaiters, 1);
    if (announce) this.events.signal();
    try {
      for (;;) {
        const top = Atomics.load(words, Header.IdleTop);
        const slot = this.claim();
        if (slot >= 0) return slot;
        const elapsed = performance.now() - started;
        if (elapsed >= graceMs || !this.threads.running() || !worthWaiting(elapsed)) return -1;
        // Short naps: what makes waiting worth it (a thread returning) is itself not notified.
        Atomics.wait(words, Header.IdleTop, top, Math.min(graceMs - elapsed, 1));
      }
    } finally {
      Atomics.sub(words, Header.IdleWaiters, 1);
    }
  }

  /** Pushes an idle slot on the stack; the slot's state must already be Idle (`SlotMailbox.markIdle`). */
  release(slot: number): void {
    const { words } = this.words;
    const next = slotWord(slot, Slot.Next);
    let top = Atomics.load(words, Header.IdleTop);
    for (;;) {
      Atomics.store(words, next, top & SLOT_MASK);
      const seen = Atomics.compareExchange(words, Header.IdleTop, top, (((top >>> SLOT_BITS) + 1) << SLOT_BITS) | (slot + 1));
      if (seen === top) break;
      top = seen;
    }
    // Set before a waiter reads the top: either it sees this push, or this sees the waiter.
    if (Atomics.load(words, Header.IdleWaiters) > 0) Atomics.notify(words, Header.IdleTop);
  }

  /** The program is ending: spawns waiting for a push give up (they see the state). */
  wakeWaiters(): void {
    Atomics.notify(this.words.words, Header.IdleTop);
  }

  /** Whether spawns wait for a push now. */
  hasWaiters(): boolean {
    return this.words.load(Header.IdleWaiters) > 0;
  }

  /** A warm spawn took a worker off the stack: the pool is one place short (the coordinator may refill it). */
  placeTaken(): void {
    this.words.add(Header.PoolReserved, -1);
  }

  /** A worker whose thread returned: its slot goes back on the stack, its pool place taken again; demand is being met. */
  rejoin(slot: number): void {
    this.words.add(Header.PoolReserved, 1);
    this.release(slot);
    this.words.add(Header.Returns, 1);
  }

  /** Pool places taken: workers on the stack and workers on their way onto it. */
  reserved(): number {
    return this.words.load(Header.PoolReserved);
  }

  /** Takes (`count` > 0) or gives back (`count` < 0) pool places. */
  reserve(count: number): void {
    this.words.add(Header.PoolReserved, count);
  }

  /** Takes one pool place if fewer than `poolSize` are taken; whether it did. */
  reservePlaceBelow(poolSize: number): boolean {
    return this.words.incrementBelow(Header.PoolReserved, poolSize) > 0;
  }

  /** Times a worker whose thread returned went back on the stack. */
  returnsSoFar(): number {
    return this.words.load(Header.Returns);
  }

  /** A worker: its thread's `wasi_thread_start` returned; it is on its way back. */
  threadReturning(): void {
    this.words.add(Header.Returning, 1);
  }

  /** A worker: back on the stack, or retired (see `threadReturning`). */
  threadReturned(): void {
    this.words.add(Header.Returning, -1);
  }

  /** Whether a worker is sure to be pushed soon: a thread on its way back, a pool worker starting. */
  workerComing(): boolean {
    return this.words.load(Header.Returning) > 0 || this.poolWorkersComing();
  }

  /** Whether pool workers are starting (or were asked for) and not yet on the stack. */
  poolWorkersComing(): boolean {
    return this.words.load(Header.PoolStarting) > 0;
  }

  /** Coordinator: `count` pool workers are starting (or were asked for); spawns that find no idle worker wait for them. */
  poolWorkersStarting(count: number): void {
    this.words.add(Header.PoolStarting, count);
  }

  /** Coordinator: `count` pool workers counted as starting will not come (the runtime is at its cap on workers). */
  poolWorkersFailed(count: number): void {
    if (count === 0) return;
    this.words.add(Header.PoolStarting, -count);
    Atomics.notify(this.words.words, Header.IdleTop);
  }

  /** A pool worker that has just started: its slot is on the stack; a spawn waiting for it may go on. */
  poolWorkerReady(slot: number): void {
    this.release(slot);
    this.words.add(Header.PoolStarting, -1);
    Atomics.notify(this.words.words, Header.IdleTop);
  }

  /**
   * A spawn that found no idle worker and none coming: asks the coordinator for one more pool
   * worker (counted as starting at once) and wakes it. The spawn then waits for whichever worker
   * comes first: that one, or a thread's that returns meanwhile.
   */
  requestWorker(): void {
    this.words.add(Header.PoolStarting, 1);
    this.words.add(Header.WorkerRequests, 1);
    this.events.signal();
  }

  /**
   * Whether the pool is at rest: no worker starting or asked for, none on its way back, no spawn
   * waiting. Then the stack holds every pool worker, each parked or spinning on its slot.
   */
  atRest(): boolean {
    const { words } = this.words;
    return [Header.PoolStarting, Header.WorkerRequests, Header.Returning, Header.IdleWaiters].every((word) => Atomics.load(words, word) === 0);
  }

  /** Coordinator: takes the pending worker requests. */
  takeWorkerRequests(): number {
    return Atomics.exchange(this.words.words, Header.WorkerRequests, 0);
  }
}
