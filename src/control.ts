import { availableParallelism } from 'node:os';

/**
 * The shared control block of one wasm program: program-wide counters, a lock-free LIFO stack of
 * idle worker slots, and one mailbox per worker slot. Every thread of the program (the coordinator
 * and all workers) holds an `Int32Array` over the same SharedArrayBuffer and follows this protocol:
 *
 * - A worker with no thread owns slot `s`: it pushes `s` on the idle stack (`releaseSlot`), spins
 *   on `slotState(s)` for a short, adaptive while, then parks in `Atomics.wait` (`awaitAssignment`).
 * - A spawning thread pops the most recently pushed slot (`claimIdleSlot`, compare-and-swap, never
 *   blocks) and writes `(tid, startArg)` with `assign()`. It calls `Atomics.notify` only if the
 *   worker has parked (`SlotState.Parked`); a worker still spinning sees the assignment by itself.
 * - The coordinator takes idle slots back when the program ends or the pool has a surplus (`recall`).
 *
 * The idle stack is a Treiber stack: one word holds the top slot and a tag that every push and pop
 * changes, so a pop that read a top which was popped and pushed again meanwhile (ABA) fails its
 * compare-and-swap and retries. No lock is held and no thread ever waits for another's progress.
 * LIFO matters: the slot pushed last belongs to the worker that ran most recently, which is still
 * spinning or has just parked, on a CPU that is not yet deeply idle (issue 12 measured a FIFO ring
 * at 16.9 µs per spawn where a stack gave 3.7 µs, with 64 idle workers).
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
  /** Pool places taken: workers parked on the stack plus workers on their way onto it. */
  PoolReserved: 4,
  /** Bumped (and notified) whenever the coordinator has something to look at: claims, last thread gone. */
  Events: 5,
  WarmSpawns: 6,
  ColdSpawns: 7,
  FailedSpawns: 8,
  /** Pool workers started and not yet on the stack: a spawn that finds none idle waits for one of them. */
  PoolStarting: 9,
  /** The idle stack's top: `(tag << SLOT_BITS) | (slot + 1)`, 0 in the low bits when empty. */
  IdleTop: 10,
  /** Spawns waiting for a slot to be pushed (`claimIdleSlotWithin`): a push notifies only when there are some. */
  IdleWaiters: 11,
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
  /** Threads whose `wasi_thread_start` returned and whose worker is not yet back on the stack (or retired). */
  Returning: 18,
  /** Workers spinning for their next thread right now. */
  Spinners: 19,
  /** CPUs of the machine: a worker spins only while the busy threads leave one spare (see `awaitAssignment`). */
  Cores: 20,
  /** Microseconds spent spinning, all workers together. */
  SpinMicros: 21,
  /** Warm spawns that found their worker not yet parked: no `Atomics.notify` was needed. */
  SpinHits: 22,
  /** Pool workers that spawns asked for (see `requestWorker`) and the coordinator has not started yet. */
  WorkerRequests: 23,
  /** Bytes of relayed stdout and stderr posted to the coordinator and not yet taken by the run's sink (see `reserveOutput`). */
  OutputInFlight: 24,
} as const;
export const HEADER_WORDS = 25;

/**
 * The most bytes of a run's relayed output on their way to its sink at once: a thread's write to
 * a relayed stdout or stderr waits while this many are (a slow Writable holds them), as a write
 * to a full pipe does. A single larger write goes alone.
 */
export const OUTPUT_IN_FLIGHT_BYTES = 1 << 20;
/**
 * The most writes of a run's relayed output on their way at once, however small: each is a
 * message that holds ~1 KB of the coordinator's memory until its sink takes it (measured on Node
 * 20: 800,000 writes of 1 byte to a Writable that took none held 480 MB of heap). A write weighs
 * at least OUTPUT_IN_FLIGHT_BYTES / OUTPUT_IN_FLIGHT_WRITES bytes against OUTPUT_IN_FLIGHT_BYTES.
 */
export const OUTPUT_IN_FLIGHT_WRITES = 1024;

/**
 * Each slot is `[state, tid, startArg, next, pages]`; `next` is the slot below it on the idle stack,
 * plus one (0: none); `pages` is the memory size the spawner's thread saw (see `assign`).
 */
const SLOT_WORDS = 5;
const SLOT_TID = 1;
const SLOT_ARG = 2;
const SLOT_NEXT = 3;
const SLOT_PAGES = 4;

/** The idle stack's top word: the low bits hold slot + 1, the rest a tag that changes on every push and pop. */
const SLOT_BITS = 14;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Slots a control block can hold (slot + 1 must fit in SLOT_BITS). */
export const MAX_SLOTS = SLOT_MASK - 1;

/** The longest spin of a worker before it parks; it adapts between 0 and this (see `SpinPolicy`). */
export const MAX_SPIN_US = 20;

/**
 * What a write counts as in flight: at least its share of OUTPUT_IN_FLIGHT_WRITES, at most
 * OUTPUT_IN_FLIGHT_BYTES (a word holds the sum; a single write may be larger than 2 GiB).
 */
const outputWeight = (bytes: number) => Math.min(Math.max(bytes, OUTPUT_IN_FLIGHT_BYTES / OUTPUT_IN_FLIGHT_WRITES), OUTPUT_IN_FLIGHT_BYTES);

export const ProgramState = { Running: 0, Ending: 1 } as const;
/**
 * Idle (on the stack, maybe spinning) -> Parked (in Atomics.wait) -> Assigned (a spawn) -> Running
 * (its worker took it) -> Idle; Idle -> Assigned directly when the spawn came while it spun;
 * Idle or Parked -> Recalled when the coordinator takes the slot back.
 */
export const SlotState = { Idle: 0, Assigned: 1, Running: 2, Recalled: 3, Parked: 4 } as const;

/** The largest thread id of the wasi-threads ABI. */
export const MAX_TID = 0x1fffffff;

export interface ControlLayout {
  slotCount: number;
}

export function layoutFor(slotCount: number): ControlLayout {
  if (slotCount > MAX_SLOTS) throw new RangeError(`a control block holds at most ${MAX_SLOTS} slots, not ${slotCount}`);
  return { slotCount };
}

export function controlBufferBytes({ slotCount }: ControlLayout): number {
  return (HEADER_WORDS + slotCount * SLOT_WORDS) * Int32Array.BYTES_PER_ELEMENT;
}

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

export class SharedControl {
  private readonly words: Int32Array;
  private readonly slotBase = HEADER_WORDS;

  constructor(
    buffer: SharedArrayBuffer,
    readonly layout: ControlLayout,
  ) {
    this.words = new Int32Array(buffer);
  }

  /** Allocates and initialises a control block; only the coordinator calls this. */
  static create(slotCount: number, maxThreads = slotCount, { cores = availableParallelism() } = {}): SharedControl {
    const control = new SharedControl(new SharedArrayBuffer(controlBufferBytes(layoutFor(slotCount))), layoutFor(slotCount));
    control.words[Header.MaxThreads] = maxThreads;
    control.words[Header.Cores] = cores;
    return control;
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  /** Reads a word (stats, diagnostics, tests). Every change to a word is one of the named operations below. */
  load(word: number): number {
    return Atomics.load(this.words, word);
  }

  private add(word: number, delta: number): number {
    return Atomics.add(this.words, word, delta);
  }

  /** The program's counters, for its stats. */
  counters(): { warmSpawns: number; coldSpawns: number; failedSpawns: number; peakLiveThreads: number; liveThreads: number; spinHits: number; spinMs: number } {
    return {
      warmSpawns: this.load(Header.WarmSpawns),
      coldSpawns: this.load(Header.ColdSpawns),
      failedSpawns: this.load(Header.FailedSpawns),
      peakLiveThreads: this.load(Header.PeakLiveThreads),
      liveThreads: this.load(Header.LiveThreads),
      spinHits: this.load(Header.SpinHits),
      spinMs: this.load(Header.SpinMicros) / 1000,
    };
  }

  // --- A spawn, step by step (spawn.ts) ---

  /**
   * A spawn's first step: counts one more live thread, if the program runs and is below its limit
   * (waiting up to `graceMs` for a thread at the limit to be counted out). Returns the live count,
   * or 0 when the spawn must fail (counted as failed).
   */
  admitThread(graceMs: number): number {
    const live = this.running() ? this.incrementBelowWithin(Header.LiveThreads, this.load(Header.MaxThreads), graceMs) : 0;
    if (live === 0) this.add(Header.FailedSpawns, 1);
    else this.raiseTo(Header.PeakLiveThreads, live);
    return live;
  }

  /** A spawn admitted by `admitThread` failed after all: the thread is not live. */
  spawnFailed(): void {
    this.add(Header.LiveThreads, -1);
    this.add(Header.FailedSpawns, 1);
  }

  /** A spawn handed its thread to an idle pool worker: the pool is one place short (the coordinator may refill it). */
  warmSpawned(): void {
    this.add(Header.PoolReserved, -1);
    this.add(Header.WarmSpawns, 1);
    this.reportClaim();
  }

  /** A spawn's thread got a worker of its own. */
  coldSpawned(): void {
    this.add(Header.ColdSpawns, 1);
  }

  /** Whether a worker is sure to be pushed on the idle stack soon: a thread on its way back, a pool worker starting. */
  workerComing(): boolean {
    return this.load(Header.Returning) > 0 || this.poolWorkersComing();
  }

  /** Whether pool workers are starting (or were asked for) and not yet on the stack. */
  poolWorkersComing(): boolean {
    return this.load(Header.PoolStarting) > 0;
  }

  // --- The pool's places (coordinator; a returning worker takes its place back) ---

  /** Pool places taken: workers on the stack and workers on their way onto it. */
  poolReserved(): number {
    return this.load(Header.PoolReserved);
  }

  /** Takes (`count` > 0) or gives back (`count` < 0) pool places. */
  reservePool(count: number): void {
    this.add(Header.PoolReserved, count);
  }

  /** Takes one pool place if fewer than `poolSize` are taken; whether it did. */
  reservePoolPlaceBelow(poolSize: number): boolean {
    return this.incrementBelow(Header.PoolReserved, poolSize) > 0;
  }

  // --- What the coordinator watches ---

  /** Whether the program's threads (its main thread counted) hold every CPU and no spawn waits for a worker. */
  threadsHoldEveryCpu(): boolean {
    return this.load(Header.LiveThreads) + 1 >= this.load(Header.Cores) && this.load(Header.IdleWaiters) === 0;
  }

  liveThreads(): number {
    return this.load(Header.LiveThreads);
  }

  /** Spawns so far, warm and cold. */
  spawnsSoFar(): number {
    return this.load(Header.WarmSpawns) + this.load(Header.ColdSpawns);
  }

  /** Times a worker whose thread returned went back on the stack (see `Header.Returns`). */
  returnsSoFar(): number {
    return this.load(Header.Returns);
  }

  /** The current value of `Header.Events`, to wait on with `waitForEvents`. */
  events(): number {
    return this.load(Header.Events);
  }

  /** Whether the coordinator's claim watch was consumed by a claim (or never set). */
  claimWatchTaken(): boolean {
    return this.load(Header.ClaimWatch) === 0;
  }

  /** Whether the worker of `slot` runs a thread now. */
  slotRunning(slot: number): boolean {
    return this.load(this.slotState(slot)) === SlotState.Running;
  }

  // --- A worker whose thread returned (thread-worker.ts) ---

  /** Its slot goes back on the stack, its pool place taken again; the coordinator sees demand met. */
  rejoinPool(slot: number): void {
    this.add(Header.PoolReserved, 1);
    this.releaseSlot(slot);
    this.add(Header.Returns, 1);
  }

  /**
   * A thread is gone: counts it out of the live threads (waking a spawn waiting at the limit), and
   * signals the coordinator if it was the last and the coordinator watches for that.
   */
  countThreadOut(): void {
    if (this.decrementAndNotify(Header.LiveThreads) === 1 && this.load(Header.LastThreadWatch) === 1) this.signalCoordinator();
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
   * Coordinator: the program is ending; spawns fail fast from now on, and workers and spawns
   * waiting for the main instance or for an idle slot give up waiting.
   */
  markEnding(): void {
    Atomics.store(this.words, Header.State, ProgramState.Ending);
    Atomics.notify(this.words, Header.MainInstantiated);
    Atomics.notify(this.words, Header.IdleTop);
  }

  running(): boolean {
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

  /** Coordinator: `count` pool workers are starting (or were asked for); spawns that find no idle worker wait for them. */
  poolWorkersStarting(count: number): void {
    Atomics.add(this.words, Header.PoolStarting, count);
  }

  /** Coordinator: `count` pool workers counted as starting will not come (the runtime is at its cap on workers). */
  poolWorkersFailed(count: number): void {
    if (count === 0) return;
    Atomics.sub(this.words, Header.PoolStarting, count);
    Atomics.notify(this.words, Header.IdleTop);
  }

  /**
   * A spawn that found no idle worker and none coming: asks the coordinator for one more pool
   * worker (counted as starting at once) and wakes it. The spawn then waits for whichever worker
   * comes first: that one, or a thread's that returns meanwhile.
   */
  requestWorker(): void {
    Atomics.add(this.words, Header.PoolStarting, 1);
    Atomics.add(this.words, Header.WorkerRequests, 1);
    this.signalCoordinator();
  }

  /** Coordinator: takes the pending worker requests. */
  takeWorkerRequests(): number {
    return Atomics.exchange(this.words, Header.WorkerRequests, 0);
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

  /**
   * A thread's write of `bytes` to a relayed stdout or stderr: waits while OUTPUT_IN_FLIGHT_BYTES
   * are on their way to the run's sink (the coordinator calls `outputTaken` as its sink takes
   * them), counts these in, and returns the write's sequence number (the coordinator writes them
   * in that order). A thread still waiting here when its program ends is in the program's host
   * call: it is terminated with the program's other threads.
   */
  reserveOutput(bytes: number): number {
    const { words } = this;
    const weight = outputWeight(bytes);
    for (;;) {
      const inFlight = Atomics.load(words, Header.OutputInFlight);
      if (inFlight > 0 && inFlight + weight > OUTPUT_IN_FLIGHT_BYTES) Atomics.wait(words, Header.OutputInFlight, inFlight);
      else if (Atomics.compareExchange(words, Header.OutputInFlight, inFlight, inFlight + weight) === inFlight) break;
    }
    return Atomics.add(words, Header.OutputSeq, 1);
  }

  /** The coordinator: a write of `bytes` (see `reserveOutput`) was taken by the run's sink, or dropped. */
  outputTaken(bytes: number): void {
    Atomics.sub(this.words, Header.OutputInFlight, outputWeight(bytes));
    Atomics.notify(this.words, Header.OutputInFlight);
  }

  nextTid(): number {
    const previous = Atomics.add(this.words, Header.LastTid, 1) >>> 0;
    return (previous % MAX_TID) + 1;
  }

  /** Pops the most recently pushed idle slot, or returns -1 when the stack is empty. */
  claimIdleSlot(): number {
    const { words } = this;
    let top = Atomics.load(words, Header.IdleTop);
    for (;;) {
      const entry = top & SLOT_MASK;
      if (entry === 0) return -1;
      const below = Atomics.load(words, this.slotBase + (entry - 1) * SLOT_WORDS + SLOT_NEXT);
      // A new tag: a racing pop-and-push of the same slot (ABA) makes this exchange fail.
      const seen = Atomics.compareExchange(words, Header.IdleTop, top, (((top >>> SLOT_BITS) + 1) << SLOT_BITS) | below);
      if (seen === top) return entry - 1;
      top = seen;
    }
  }

  /**
   * Like `claimIdleSlot`, but waits for a push while `worthWaiting()` says a worker may come back
   * (a returning thread, a starting pool worker), up to `graceMs` in all. Returns -1 if none came.
   * `announce`: signal the coordinator once counted as a waiter (it may have put a pool start off).
   */
  claimIdleSlotWithin(graceMs: number, worthWaiting: (elapsedMs: number) => boolean = () => true, announce = false): number {
    const { words } = this;
    const started = performance.now();
    Atomics.add(words, Header.IdleWaiters, 1);
    if (announce) this.signalCoordinator();
    try {
      for (;;) {
        const top = Atomics.load(words, Header.IdleTop);
        const slot = this.claimIdleSlot();
        if (slot >= 0) return slot;
        const elapsed = performance.now() - started;
        if (elapsed >= graceMs || !this.running() || !worthWaiting(elapsed)) return -1;
        // Short naps: what makes waiting worth it (a thread returning) is itself not notified.
        Atomics.wait(words, Header.IdleTop, top, Math.min(graceMs - elapsed, 1));
      }
    } finally {
      Atomics.sub(words, Header.IdleWaiters, 1);
    }
  }

  /** Pushes an idle slot on the stack; the slot's state must already be Idle (`markIdle`). */
  releaseSlot(slot: number): void {
    const { words } = this;
    const next = this.slotBase + slot * SLOT_WORDS + SLOT_NEXT;
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

  /** A pool worker that has just started: its slot is on the stack; a spawn waiting for it may go on. */
  poolWorkerReady(slot: number): void {
    this.releaseSlot(slot);
    Atomics.sub(this.words, Header.PoolStarting, 1);
    Atomics.notify(this.words, Header.IdleTop);
  }

  slotState(slot: number): number {
    return this.slotBase + slot * SLOT_WORDS;
  }

  /**
   * Hands `(tid, startArg)` to the worker of `slot`, waking it if it has parked. False when the
   * coordinator has recalled the slot: the thread will not run. `pages`: the memory's size as the
   * spawning thread sees it; the new thread's worker catches up to it before the thread starts
   * (see `assignedPages`).
   */
  assign(slot: number, tid: number, startArg: number, pages = 0): boolean {
    const base = this.slotState(slot);
    Atomics.store(this.words, base + SLOT_TID, tid);
    Atomics.store(this.words, base + SLOT_ARG, startArg);
    Atomics.store(this.words, base + SLOT_PAGES, pages);
    for (;;) {
      const seen = Atomics.compareExchange(this.words, base, SlotState.Idle, SlotState.Assigned);
      if (seen === SlotState.Idle) {
        // Not parked: the worker sees the assignment while it spins, or when it tries to park.
        Atomics.add(this.words, Header.SpinHits, 1);
        return true;
      }
      if (seen !== SlotState.Parked) return false;
      if (Atomics.compareExchange(this.words, base, SlotState.Parked, SlotState.Assigned) === SlotState.Parked) {
        Atomics.notify(this.words, base, 1);
        return true;
      }
    }
  }

  /** Coordinator, for a cold spawn: `(tid, startArg)` for the worker it is about to start on the free `slot`. */
  assignToNewWorker(slot: number, tid: number, startArg: number): void {
    const base = this.slotState(slot);
    Atomics.store(this.words, base + SLOT_TID, tid);
    Atomics.store(this.words, base + SLOT_ARG, startArg);
    Atomics.store(this.words, base, SlotState.Assigned);
  }

  /**
   * Coordinator: takes `slot` back from its worker if no thread is assigned to it, so that the
   * worker leaves the program instead of running one (a spawn racing with this finds the slot
   * Recalled in `assign`). False when a thread runs there (or is about to).
   */
  recall(slot: number): boolean {
    const base = this.slotState(slot);
    for (const from of [SlotState.Idle, SlotState.Parked]) {
      if (Atomics.compareExchange(this.words, base, from, SlotState.Recalled) === from) {
        Atomics.notify(this.words, base, 1);
        return true;
      }
    }
    return false;
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
   * Waits for a thread on the worker's idle `slot` (read it with `assignedTid` / `assignedStartArg`):
   * true. False when the coordinator recalled the slot: the worker leaves.
   *
   * First it spins for up to `spin.boundUs`, but only while the program's busy threads (live wasm
   * threads and the spawner, plus the spinners) leave a CPU spare: spinning on a CPU that a thread
   * needs slows that thread. Then it parks: Idle -> Parked, and `Atomics.wait` while Parked.
   */
  awaitAssignment(slot: number, spin?: SpinPolicy): boolean {
    const { words } = this;
    const base = this.slotState(slot);
    const idleSince = spin ? performance.now() : 0;
    let state = Atomics.load(words, base);
    if (spin && state === SlotState.Idle && spin.boundUs > 0) state = this.spin(base, spin.boundUs, idleSince);
    for (;;) {
      if (state === SlotState.Assigned) {
        Atomics.store(words, base, SlotState.Running);
        spin?.learn((performance.now() - idleSince) * 1000);
        return true;
      }
      if (state === SlotState.Recalled) return false;
      if (state === SlotState.Idle) Atomics.compareExchange(words, base, SlotState.Idle, SlotState.Parked);
      else Atomics.wait(words, base, SlotState.Parked);
      state = Atomics.load(words, base);
    }
  }

  /** Polls the slot's state while it is Idle, for up to `boundUs` (see `awaitAssignment`); returns the state seen last. */
  private spin(base: number, boundUs: number, since: number): number {
    const { words } = this;
    const spare = Atomics.load(words, Header.Cores) - 1 - Atomics.load(words, Header.LiveThreads);
    if (this.incrementBelow(Header.Spinners, spare) === 0) return Atomics.load(words, base);
    const until = since + boundUs / 1000;
    let state: number;
    let now: number;
    do {
      state = Atomics.load(words, base);
      now = performance.now();
    } while (state === SlotState.Idle && now < until);
    Atomics.sub(words, Header.Spinners, 1);
    Atomics.add(words, Header.SpinMicros, Math.round((now - since) * 1000));
    return state;
  }

  /** The tid last assigned to `slot`. */
  assignedTid(slot: number): number {
    return Atomics.load(this.words, this.slotState(slot) + SLOT_TID);
  }

  assignedStartArg(slot: number): number {
    return Atomics.load(this.words, this.slotState(slot) + SLOT_ARG);
  }

  /**
   * The memory's size in pages as the spawner of the thread assigned to `slot` saw it. A thread's
   * stack and start argument are often in pages its spawner grew just before; another thread's
   * isolate learns of a grow through an interrupt it handles later, and until then its memory
   * object (and, where V8 bounds-checks explicitly, its instance) has the old size.
   */
  assignedPages(slot: number): number {
    return Atomics.load(this.words, this.slotState(slot) + SLOT_PAGES);
  }

  /**
   * A worker whose thread returned: marks `slot` idle before it goes back on the stack (or the
   * worker retires). Wakes the coordinator's `recallWithin` if the program is ending.
   */
  markIdle(slot: number): void {
    Atomics.store(this.words, this.slotState(slot), SlotState.Idle);
    // Read after the store: if this sees Running, the coordinator's recall comes later and sees Idle.
    if (!this.running()) Atomics.notify(this.words, this.slotState(slot));
  }

  /** A worker: its thread's `wasi_thread_start` returned; it is on its way back (see `Header.Returning`). */
  threadReturning(): void {
    Atomics.add(this.words, Header.Returning, 1);
  }

  /** A worker: back on the stack, or retired (see `threadReturning`). */
  threadReturned(): void {
    Atomics.sub(this.words, Header.Returning, 1);
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
