/**
 * One mailbox per worker slot: how a spawn hands `(tid, startArg)` to the worker that owns the
 * slot, and how the coordinator takes an idle slot back.
 *
 * - The worker, idle, spins on its slot's state for a short, adaptive while, then parks:
 *   Idle -> Parked, and `Atomics.wait` while Parked (`awaitAssignment`).
 * - The spawner writes tid, start argument and its view of the memory's size, then moves the state
 *   Idle -> Assigned or Parked -> Assigned (`assign`). Only from Parked does it call
 *   `Atomics.notify`: a worker still spinning sees the assignment by itself.
 * - The coordinator moves Idle or Parked -> Recalled (`recall`): the worker leaves the program
 *   rather than run a thread, and a spawn racing with it finds the slot Recalled and fails over.
 * - The worker, its thread returned, stores Idle (`markIdle`) before its slot goes back on the
 *   idle stack.
 * Every change of state is one compare-and-swap, so exactly one of a spawn and a recall wins a slot.
 */
import { type ControlWords, Header, Slot, SlotState, slotWord } from './layout.js';
import type { Threads } from './threads.js';

/** The longest spin of a worker before it parks; it adapts between 0 and this (see `SpinPolicy`). */
export const MAX_SPIN_US = 20;

/**
 * A worker's spin bound between threads, in microseconds. A new worker does not spin (nothing it
 * did says a thread is coming). After each wait, if the next thread came within 2 * MAX_SPIN_US of
 * the worker going idle, a spin would have caught it (or did, or nearly: a wake-up from
 * `Atomics.wait` alone takes 2-30 µs): the bound goes to MAX_SPIN_US. Otherwise the spin was
 * wasted: it halves, down to 0 (below 1 µs), so a worker whose threads come rarely stops spinning
 * after a few misses, and one quick hand-over brings the spin back.
 */
export class SpinPolicy {
  boundUs = 0;

  /** `idleUs`: from going idle to the next assignment. */
  learn(idleUs: number): void {
    this.boundUs = idleUs <= 2 * MAX_SPIN_US ? MAX_SPIN_US : this.boundUs >= 2 ? this.boundUs / 2 : 0;
  }
}

export class SlotMailbox {
  constructor(
    private readonly words: ControlWords,
    private readonly threads: Threads,
  ) {}

  /** The index of `slot`'s state word (to read it, or to wait on it). */
  stateWord(slot: number): number {
    return slotWord(slot, Slot.State);
  }

  /**
   * Hands `(tid, startArg)` to the worker of `slot`, waking it if it has parked. False when the
   * coordinator has recalled the slot: the thread will not run. `pages`: the memory's size as the
   * spawning thread sees it; the new thread's worker catches up to it before the thread starts.
   */
  assign(slot: number, tid: number, startArg: number, pages = 0): boolean {
    const { words } = this.words;
    const state = this.stateWord(slot);
    Atomics.store(words, slotWord(slot, Slot.Tid), tid);
    Atomics.store(words, slotWord(slot, Slot.Arg), startArg);
    Atomics.store(words, slotWord(slot, Slot.Pages), pages);
    for (;;) {
      const seen = Atomics.compareExchange(words, state, SlotState.Idle, SlotState.Assigned);
      if (seen === SlotState.Idle) {
        // Not parked: the worker sees the assignment while it spins, or when it tries to park.
        this.words.add(Header.SpinHits, 1);
        return true;
      }
      if (seen !== SlotState.Parked) return false;
      if (Atomics.compareExchange(words, state, SlotState.Parked, SlotState.Assigned) === SlotState.Parked) {
        Atomics.notify(words, state, 1);
        return true;
      }
    }
  }

  /** Coordinator, for a cold spawn: `(tid, startArg)` for the worker it is about to start on the free `slot`. */
  assignToNewWorker(slot: number, tid: number, startArg: number): void {
    const { words } = this.words;
    Atomics.store(words, slotWord(slot, Slot.Tid), tid);
    Atomics.store(words, slotWord(slot, Slot.Arg), startArg);
    Atomics.store(words, this.stateWord(slot), SlotState.Assigned);
  }

  /**
   * Coordinator: takes `slot` back from its worker if no thread is assigned to it, so that the
   * worker leaves the program instead of running one. False when a thread runs there (or is about to).
   */
  recall(slot: number): boolean {
    const { words } = this.words;
    const state = this.stateWord(slot);
    for (const from of [SlotState.Idle, SlotState.Parked]) {
      if (Atomics.compareExchange(words, state, from, SlotState.Recalled) === from) {
        Atomics.notify(words, state, 1);
        return true;
      }
    }
    return false;
  }

  /**
   * Coordinator, when the program ends: recalls `slot`, waiting up to `graceMs` (without blocking)
   * for a thread that runs there to return first: a thread its joiner has just seen finish is still
   * counting itself out when the main thread ends the program.
   */
  async recallWithin(slot: number, graceMs: number): Promise<boolean> {
    const { words } = this.words;
    const deadline = performance.now() + graceMs;
    for (;;) {
      if (this.recall(slot)) return true;
      const state = Atomics.load(words, this.stateWord(slot));
      const remaining = deadline - performance.now();
      if (state !== SlotState.Running || remaining <= 0) return state === SlotState.Recalled;
      const wait = Atomics.waitAsync(words, this.stateWord(slot), SlotState.Running, remaining);
      if (wait.async) await wait.value;
    }
  }

  /**
   * Waits for a thread on the worker's idle `slot` (read it with `assignedTid` / `assignedStartArg`):
   * true. False when the coordinator recalled the slot: the worker leaves.
   *
   * First it spins for up to `spin.boundUs`, but only while the program's busy threads (live wasm
   * threads and the spawner, plus the spinners) leave a CPU spare: spinning on a CPU that a thread
   * needs slows that thread. Then it parks: Idle -> Parked, and `Atomics.wait` while Parked.
   */
  awaitAssignment(slot: number, spin?: SpinPolicy): boolean {
    const { words } = this.words;
    const state = this.stateWord(slot);
    const idleSince = spin ? performance.now() : 0;
    let seen = Atomics.load(words, state);
    if (spin && seen === SlotState.Idle && spin.boundUs > 0) seen = this.spin(state, spin.boundUs, idleSince);
    for (;;) {
      if (seen === SlotState.Assigned) {
        Atomics.store(words, state, SlotState.Running);
        spin?.learn((performance.now() - idleSince) * 1000);
        return true;
      }
      if (seen === SlotState.Recalled) return false;
      if (seen === SlotState.Idle) Atomics.compareExchange(words, state, SlotState.Idle, SlotState.Parked);
      else Atomics.wait(words, state, SlotState.Parked);
      seen = Atomics.load(words, state);
    }
  }

  /** Polls the slot's state while it is Idle, for up to `boundUs` (see `awaitAssignment`); returns the state seen last. */
  private spin(state: number, boundUs: number, since: number): number {
    const { words } = this.words;
    const spare = this.threads.cores() - 1 - this.threads.live();
    if (this.words.incrementBelow(Header.Spinners, spare) === 0) return Atomics.load(words, state);
    const until = since + boundUs / 1000;
    let seen: number;
    let now: number;
    do {
      seen = Atomics.load(words, state);
      now = performance.now();
    } while (seen === SlotState.Idle && now < until);
    this.words.add(Header.Spinners, -1);
    this.words.add(Header.SpinMicros, Math.round((now - since) * 1000));
    return seen;
  }

  /** The tid last assigned to `slot`. */
  assignedTid(slot: number): number {
    return this.words.load(slotWord(slot, Slot.Tid));
  }

  assignedStartArg(slot: number): number {
    return this.words.load(slotWord(slot, Slot.Arg));
  }

  /**
   * The memory's size in pages as the spawner of the thread assigned to `slot` saw it. A thread's
   * stack and start argument are often in pages its spawner grew just before; another thread's
   * isolate learns of a grow through an interrupt it handles later, and until then its memory
   * object (and, where V8 bounds-checks explicitly, its instance) has the old size.
   */
  assignedPages(slot: number): number {
    return this.words.load(slotWord(slot, Slot.Pages));
  }

  /** Whether the worker of `slot` waits for a thread (spinning or parked): none assigned or running there, and not recalled. */
  waiting(slot: number): boolean {
    const state = this.words.load(this.stateWord(slot));
    return state === SlotState.Idle || state === SlotState.Parked;
  }

  /** Whether the worker of `slot` runs a thread now. */
  running(slot: number): boolean {
    return this.words.load(this.stateWord(slot)) === SlotState.Running;
  }

  /**
   * A worker whose thread returned: marks `slot` idle before it goes back on the stack (or the
   * worker retires). Wakes the coordinator's `recallWithin` if the program is ending.
   */
  markIdle(slot: number): void {
    Atomics.store(this.words.words, this.stateWord(slot), SlotState.Idle);
    // Read after the store: if this sees Running, the coordinator's recall comes later and sees Idle.
    if (!this.threads.running()) Atomics.notify(this.words.words, this.stateWord(slot));
  }

  /** Coordinator, between two runs on one block: the spin counters start again (the slots keep their workers). */
  rearm(): void {
    Atomics.store(this.words.words, Header.SpinHits, 0);
    Atomics.store(this.words.words, Header.SpinMicros, 0);
  }

  /** The spin counters of the program's stats. */
  counters(): { spinHits: number; spinMs: number } {
    return { spinHits: this.words.load(Header.SpinHits), spinMs: this.words.load(Header.SpinMicros) / 1000 };
  }
}
