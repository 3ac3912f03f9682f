/**
 * The shared control block of one wasm program: program-wide counters, a lock-free ring of idle
 * worker slots, and one mailbox per worker slot. Every thread of the program (the coordinator and
 * all workers) holds an `Int32Array` over the same SharedArrayBuffer and follows this protocol:
 *
 * - A parked worker owns slot `s` and waits on `slotState(s)` while it is `SlotState.Idle`.
 * - A spawning thread claims an idle slot with `claimIdleSlot()` (compare-and-swap, never blocks),
 *   writes `(tid, startArg)` with `assign()`, which also wakes the worker with `Atomics.notify`.
 * - A worker whose thread returned puts its slot back with `releaseSlot()`.
 *
 * The ring is Vyukov's bounded multi-producer/multi-consumer queue: each cell carries a sequence
 * number that tells producers and consumers whose turn it is, so no lock is ever held. The only
 * waiting is for a peer between its two atomic steps on the very same cell (a few instructions).
 */

/** Program-wide words, indices into the Int32Array, in order (a test checks that they are 0..HEADER_WORDS-1, each once). */
export const Header = {
  /** `ProgramState`: spawns fail fast once the program is ending. */
  State: 0,
  /** Last thread id handed out; tids are 1..MAX_TID. */
  LastTid: 1,
  /** Threads spawned and not yet returned from `wasi_thread_start`. */
  LiveThreads: 2,
  PeakLiveThreads: 3,
  /** Pool places taken: workers parked in the ring plus workers on their way into it. */
  PoolReserved: 4,
  /** Bumped (and notified) whenever the coordinator has something to look at: claims, last thread gone. */
  Events: 5,
  WarmSpawns: 6,
  ColdSpawns: 7,
  FailedSpawns: 8,
  /** 1 once the initial pool is parked; the wasm main thread waits for it before it starts. */
  PoolReady: 9,
  RingHead: 10,
  RingTail: 11,
  /** Bumped whenever a worker whose thread returned parks again: tells the coordinator demand is being met. */
  Returns: 12,
  /**
   * 1 while the coordinator wants to hear of the next claim. The first claim to see it clears it
   * and signals; the rest stay silent until the coordinator asks again, so a burst of spawns costs
   * one wake-up of the main JS thread, not one each.
   */
  ClaimWatch: 13,
  /** 1 once the main entry returned with destroyWhenEnd false: the last thread to return must say so. */
  LastThreadWatch: 14,
  /**
   * 1 once the wasm main thread's instance exists. Every other instance waits for it before it is
   * instantiated: with shared memory, wasm-ld's start function (`__wasm_init_memory`) gives the
   * main thread's TLS to whichever instance runs it first, and the main thread never runs
   * `wasi_thread_start` to set its own.
   */
  MainInstantiated: 15,
  /** Most threads alive at once; a runtime's run may set it below the runtime's maxThreads when it starts. */
  MaxThreads: 16,
  /** Last sequence number given to a write on a relayed stdout or stderr: the coordinator writes them in this order. */
  OutputSeq: 17,
} as const;
export const HEADER_WORDS = 18;

/** Each ring cell is `[sequence, slot index]`. */
const CELL_WORDS = 2;
/** Each slot is `[state, tid, startArg, unused]`. */
const SLOT_WORDS = 4;
const SLOT_TID = 1;
const SLOT_ARG = 2;

/** How long claim or release spins on a cell that a peer is between its two atomic steps on, before napping between looks. */
const PEER_SPINS = 1000;
const PEER_NAP_MS = 0.05;

export const ProgramState = { Running: 0, Ending: 1 } as const;
/** Idle -> Assigned (a spawn) -> Running (its worker took it) -> Idle; Idle -> Recalled when the program ends. */
export const SlotState = { Idle: 0, Assigned: 1, Running: 2, Recalled: 3 } as const;

/** The largest thread id of the wasi-threads ABI. */
export const MAX_TID = 0x1fffffff;

export interface ControlLayout {
  /** Power of two, at least `slotCount`, so a release always finds room. */
  ringCapacity: number;
  slotCount: number;
}

export function layoutFor(slotCount: number): ControlLayout {
  let ringCapacity = 1;
  while (ringCapacity < slotCount) ringCapacity *= 2;
  return { ringCapacity, slotCount };
}

export function controlBufferBytes({ ringCapacity, slotCount }: ControlLayout): number {
  return (HEADER_WORDS + ringCapacity * CELL_WORDS + slotCount * SLOT_WORDS) * Int32Array.BYTES_PER_ELEMENT;
}

export class SharedControl {
  readonly words: Int32Array;
  private readonly mask: number;
  private readonly ringBase = HEADER_WORDS;
  private readonly slotBase: number;

  constructor(
    buffer: SharedArrayBuffer,
    readonly layout: ControlLayout,
  ) {
    this.words = new Int32Array(buffer);
    this.mask = layout.ringCapacity - 1;
    this.slotBase = HEADER_WORDS + layout.ringCapacity * CELL_WORDS;
  }

  /** Allocates and initialises a control block; only the coordinator calls this. */
  static create(slotCount: number, maxThreads = slotCount): SharedControl {
    const layout = layoutFor(slotCount);
    const control = new SharedControl(new SharedArrayBuffer(controlBufferBytes(layout)), layout);
    control.words[Header.MaxThreads] = maxThreads;
    for (let i = 0; i < layout.ringCapacity; i++) control.words[control.ringBase + i * CELL_WORDS] = i;
    return control;
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  load(word: number): number {
    return Atomics.load(this.words, word);
  }

  add(word: number, delta: number): number {
    return Atomics.add(this.words, word, delta);
  }

  /** Increments `word` only if it is below `limit`; returns the new value, or 0 when it did not. */
  incrementBelow(word: number, limit: number): number {
    let current = Atomics.load(this.words, word);
    while (current < limit) {
      const seen = Atomics.compareExchange(this.words, word, current, current + 1);
      if (seen === current) return current + 1;
      current = seen;
    }
    return 0;
  }

  /**
   * Like `incrementBelow`, but waits up to `graceMs` for the word to drop below `limit` (whoever
   * lowers it uses `decrementAndNotify`). Returns the new value, or 0 when it stayed at the limit.
   */
  incrementBelowWithin(word: number, limit: number, graceMs: number): number {
    // The common case, below the limit, costs no clock read.
    const first = this.incrementBelow(word, limit);
    if (first > 0) return first;
    const deadline = performance.now() + graceMs;
    for (;;) {
      const seen = Atomics.load(this.words, word);
      const incremented = this.incrementBelow(word, limit);
      const remaining = deadline - performance.now();
      if (incremented > 0 || remaining <= 0) return incremented;
      Atomics.wait(this.words, word, seen, remaining);
    }
  }

  /** Lowers `word` by one and wakes a thread waiting in `incrementBelowWithin`; returns the old value. */
  decrementAndNotify(word: number): number {
    const previous = Atomics.sub(this.words, word, 1);
    Atomics.notify(this.words, word, 1);
    return previous;
  }

  raiseTo(word: number, value: number): void {
    let current = Atomics.load(this.words, word);
    while (current < value) {
      const seen = Atomics.compareExchange(this.words, word, current, value);
      if (seen === current) return;
      current = seen;
    }
  }

  /** Coordinator, before the program starts: lowers its limit on live threads. */
  limitThreads(maxThreads: number): void {
    Atomics.store(this.words, Header.MaxThreads, maxThreads);
  }

  /**
   * Coordinator: the program is ending; spawns fail fast from now on, and workers waiting for the
   * main instance or the pool give up waiting.
   */
  markEnding(): void {
    Atomics.store(this.words, Header.State, ProgramState.Ending);
    Atomics.notify(this.words, Header.MainInstantiated);
    Atomics.notify(this.words, Header.PoolReady);
  }

  private running(): boolean {
    return Atomics.load(this.words, Header.State) === ProgramState.Running;
  }

  /** Coordinator, once every worker has ended: no thread is alive. */
  clearLiveThreads(): void {
    Atomics.store(this.words, Header.LiveThreads, 0);
  }

  /** Coordinator: the main entry returned with destroyWhenEnd false; the last thread to return must say so. */
  watchLastThread(): void {
    Atomics.store(this.words, Header.LastThreadWatch, 1);
  }

  /** Sets a once-only flag word (0 -> 1) and wakes every thread in `awaitFlag` on it. */
  private raiseFlag(word: number): void {
    Atomics.store(this.words, word, 1);
    Atomics.notify(this.words, word);
  }

  /** Waits (terminably) until `word` is raised; false if the program ended first (`markEnding` wakes it). */
  private awaitFlag(word: number): boolean {
    while (Atomics.load(this.words, word) === 0) {
      if (!this.running()) return false;
      Atomics.wait(this.words, word, 0);
    }
    return true;
  }

  /** Coordinator: the initial pool is parked; the wasm main thread may start. */
  markPoolReady(): void {
    this.raiseFlag(Header.PoolReady);
  }

  /** The wasm main thread's worker: waits (terminably) for the initial pool; false if the program ended first. */
  awaitPoolReady(): boolean {
    return this.awaitFlag(Header.PoolReady);
  }

  /** Coordinator: settles when `Header.Events` moves on from `seen` (see `signalCoordinator`). */
  waitForEvents(seen: number): ReturnType<typeof Atomics.waitAsync> {
    return Atomics.waitAsync(this.words, Header.Events, seen);
  }

  /** The coordinator asks to hear of the next claim (see `Header.ClaimWatch`). */
  watchClaims(): void {
    Atomics.store(this.words, Header.ClaimWatch, 1);
  }

  /** Clears the claim watch; true if it was set, so the caller is the one to act on it. */
  takeClaimWatch(): boolean {
    return Atomics.compareExchange(this.words, Header.ClaimWatch, 1, 0) === 1;
  }

  /** Signals the coordinator if it asked to hear of claims. */
  reportClaim(): void {
    if (this.takeClaimWatch()) this.signalCoordinator();
  }

  /** Wakes the coordinator's `Atomics.waitAsync` on `Header.Events`. */
  signalCoordinator(): void {
    Atomics.add(this.words, Header.Events, 1);
    Atomics.notify(this.words, Header.Events);
  }

  /** A write to a relayed stdout or stderr: its place in the program's output. */
  nextOutputSeq(): number {
    return Atomics.add(this.words, Header.OutputSeq, 1);
  }

  nextTid(): number {
    const previous = Atomics.add(this.words, Header.LastTid, 1) >>> 0;
    return (previous % MAX_TID) + 1;
  }

  /**
   * Takes an idle slot off the ring, or returns -1 when it is empty. A cell that a releaser has
   * reserved but not yet filled (two atomic operations) is waited for, like `releaseSlot` does.
   */
  claimIdleSlot(): number {
    const { words, mask, ringBase } = this;
    let position = Atomics.load(words, Header.RingHead);
    for (let spins = 0; ; spins++) {
      const cell = ringBase + (position & mask) * CELL_WORDS;
      const sequence = Atomics.load(words, cell);
      const lag = (sequence - ((position + 1) | 0)) | 0;
      if (lag === 0) {
        const seen = Atomics.compareExchange(words, Header.RingHead, position, (position + 1) | 0);
        if (seen === position) {
          const slot = Atomics.load(words, cell + 1);
          Atomics.store(words, cell, (position + mask + 1) | 0);
          return slot;
        }
        position = seen;
      } else if (lag < 0 && Atomics.load(words, Header.RingTail) === position) {
        return -1;
      } else {
        if (lag < 0 && spins > PEER_SPINS) Atomics.wait(words, cell, sequence, PEER_NAP_MS);
        position = Atomics.load(words, Header.RingHead);
      }
    }
  }

  /**
   * Like `claimIdleSlot`, but waits up to `graceMs` for a release: a thread the spawner just joined
   * has finished its wasm but may not have handed its slot back yet, and a cold start costs ~1000x more.
   */
  claimIdleSlotWithin(graceMs: number): number {
    const deadline = performance.now() + graceMs;
    for (;;) {
      const tail = Atomics.load(this.words, Header.RingTail);
      const slot = this.claimIdleSlot();
      const remaining = deadline - performance.now();
      if (slot >= 0 || remaining <= 0) return slot;
      Atomics.wait(this.words, Header.RingTail, tail, remaining);
    }
  }

  /**
   * Puts an idle slot on the ring. The ring has room for every slot, so it is never full; a cell
   * that still looks occupied belongs to a claimer that has taken it but not yet marked it free,
   * which takes it two atomic operations: wait for that (briefly; a descheduled claimer sleeps us).
   */
  releaseSlot(slot: number): void {
    const { words, mask, ringBase } = this;
    let position = Atomics.load(words, Header.RingTail);
    for (let spins = 0; ; spins++) {
      const cell = ringBase + (position & mask) * CELL_WORDS;
      const sequence = Atomics.load(words, cell);
      const lag = (sequence - position) | 0;
      if (lag === 0) {
        const seen = Atomics.compareExchange(words, Header.RingTail, position, (position + 1) | 0);
        if (seen === position) {
          Atomics.store(words, cell + 1, slot);
          Atomics.store(words, cell, (position + 1) | 0);
          Atomics.notify(words, Header.RingTail); // a claimer may be waiting out a thread's return
          return;
        }
        position = seen;
      } else {
        if (lag < 0 && spins > PEER_SPINS) Atomics.wait(words, cell, sequence, PEER_NAP_MS);
        position = Atomics.load(words, Header.RingTail);
      }
    }
  }

  slotState(slot: number): number {
    return this.slotBase + slot * SLOT_WORDS;
  }

  /**
   * Hands `(tid, startArg)` to the worker of `slot` and wakes it. False when the coordinator has
   * recalled the slot (the program is ending): the thread will not run.
   */
  assign(slot: number, tid: number, startArg: number): boolean {
    const base = this.slotState(slot);
    Atomics.store(this.words, base + SLOT_TID, tid);
    Atomics.store(this.words, base + SLOT_ARG, startArg);
    if (Atomics.compareExchange(this.words, base, SlotState.Idle, SlotState.Assigned) !== SlotState.Idle) return false;
    Atomics.notify(this.words, base, 1);
    return true;
  }

  /**
   * Coordinator, when the program ends: takes `slot` back from its worker if no thread is assigned
   * to it, so that the worker leaves the program instead of running one (a spawn racing with this
   * finds the slot Recalled in `assign`). False when a thread runs there (or is about to).
   */
  recall(slot: number): boolean {
    const base = this.slotState(slot);
    if (Atomics.compareExchange(this.words, base, SlotState.Idle, SlotState.Recalled) !== SlotState.Idle) return false;
    Atomics.notify(this.words, base, 1);
    return true;
  }

  /** The main thread's worker: its instance exists, the others may be instantiated now. */
  markMainInstantiated(): void {
    this.raiseFlag(Header.MainInstantiated);
  }

  /** Any other worker: waits (terminably) until the main thread's instance exists; false if the program ended first. */
  awaitMainInstantiated(): boolean {
    return this.awaitFlag(Header.MainInstantiated);
  }

  /**
   * Parks the worker of `slot` until a thread is assigned (read it with `assignedTid` /
   * `assignedStartArg`): true. False when the coordinator recalled the slot: the worker leaves.
   */
  awaitAssignment(slot: number): boolean {
    const base = this.slotState(slot);
    for (;;) {
      const state = Atomics.load(this.words, base);
      if (state === SlotState.Assigned) {
        Atomics.store(this.words, base, SlotState.Running);
        return true;
      }
      if (state === SlotState.Recalled) return false;
      Atomics.wait(this.words, base, state);
    }
  }

  /** The tid last assigned to `slot`. */
  assignedTid(slot: number): number {
    return Atomics.load(this.words, this.slotState(slot) + SLOT_TID);
  }

  assignedStartArg(slot: number): number {
    return Atomics.load(this.words, this.slotState(slot) + SLOT_ARG);
  }

  /** Marks `slot` idle again before its worker parks; the worker calls this, then `releaseSlot`. Wakes `awaitIdle`. */
  markIdle(slot: number): void {
    Atomics.store(this.words, this.slotState(slot), SlotState.Idle);
    Atomics.notify(this.words, this.slotState(slot));
  }

  /**
   * Coordinator, when the program ends: recalls `slot` (see `recall`), waiting up to `graceMs`
   * (without blocking) for a thread that runs there to return first: a thread its joiner has just
   * seen finish is still counting itself out when the main thread ends the program.
   */
  async recallWithin(slot: number, graceMs: number): Promise<boolean> {
    const deadline = performance.now() + graceMs;
    for (;;) {
      if (this.recall(slot)) return true;
      const state = Atomics.load(this.words, this.slotState(slot));
      const remaining = deadline - performance.now();
      if (state !== SlotState.Running || remaining <= 0) return state === SlotState.Recalled;
      const wait = Atomics.waitAsync(this.words, this.slotState(slot), SlotState.Running, remaining);
      if (wait.async) await wait.value;
    }
  }
}
