/**
 * The layout of a program's control block: one SharedArrayBuffer that every thread of the program
 * (the coordinator on the main JS thread, and every worker) holds as an `Int32Array`. A header of
 * program-wide words, then one mailbox of SLOT_WORDS words per worker slot.
 *
 * Each header word belongs to one protocol, named beside it; only that protocol's module reads or
 * writes it (a test checks the indices are 0..HEADER_WORDS-1, each once). The protocols:
 * - threads.ts: the program's state, live-thread admission, tids, the main instance flag, counters;
 * - idle-stack.ts: the lock-free LIFO stack of idle slots and the pool's places;
 * - slot-mailbox.ts: one slot's hand-over of a thread to its worker, spin then park;
 * - coordinator-events.ts: what wakes the coordinator's `Atomics.waitAsync`;
 * - output-credit.ts: the bytes of relayed output on their way to the run's sink;
 * - main-seat.ts: a runtime's orders to the wasm main thread's worker, and the run config area
 *   after the slots.
 */

/** Program-wide words, indices into the Int32Array, in order. */
export const Header = {
  /** threads: `ProgramState`; spawns fail fast once the program is ending. */
  State: 0,
  /** threads: last thread id handed out; tids are 1..MAX_TID. */
  LastTid: 1,
  /** threads: threads spawned and not yet returned from `wasi_thread_start`. */
  LiveThreads: 2,
  /** threads */
  PeakLiveThreads: 3,
  /** idle stack: pool places taken, workers parked on the stack plus workers on their way onto it. */
  PoolReserved: 4,
  /** coordinator events: bumped (and notified) whenever the coordinator has something to look at. */
  Events: 5,
  /** threads */
  WarmSpawns: 6,
  /** threads */
  ColdSpawns: 7,
  /** threads */
  FailedSpawns: 8,
  /** idle stack: pool workers started and not yet on the stack; a spawn that finds none idle waits for one of them. */
  PoolStarting: 9,
  /** idle stack: its top, `(tag << SLOT_BITS) | (slot + 1)`, 0 in the low bits when empty. */
  IdleTop: 10,
  /** idle stack: spawns waiting for a slot to be pushed; a push notifies only when there are some. */
  IdleWaiters: 11,
  /** idle stack: bumped whenever a worker whose thread returned parks again (demand is being met). */
  Returns: 12,
  /**
   * coordinator events: 1 while the coordinator wants to hear of the next claim. The first claim to
   * see it clears it and signals; the rest stay silent until the coordinator asks again, so a burst
   * of spawns costs one wake-up of the main JS thread, not one each.
   */
  ClaimWatch: 13,
  /** coordinator events: 1 once the main entry returned with destroyWhenEnd false; the last thread to return must say so. */
  LastThreadWatch: 14,
  /**
   * threads: 1 once the wasm main thread's instance exists. Every other instance waits for it
   * before it is instantiated: with shared memory, wasm-ld's start function (`__wasm_init_memory`)
   * gives the main thread's TLS to whichever instance runs it first, and the main thread never runs
   * `wasi_thread_start` to set its own.
   */
  MainInstantiated: 15,
  /** threads: most threads alive at once; a runtime's run may set it below the runtime's maxThreads. */
  MaxThreads: 16,
  /** output credit: last sequence number given to a write on a relayed stdout or stderr. */
  OutputSeq: 17,
  /** idle stack: threads whose `wasi_thread_start` returned and whose worker is not yet back on the stack (or retired). */
  Returning: 18,
  /** slot mailbox: workers spinning for their next thread right now. */
  Spinners: 19,
  /** threads: CPUs of the machine; a worker spins only while the busy threads leave one spare. */
  Cores: 20,
  /** slot mailbox: microseconds spent spinning, all workers together. */
  SpinMicros: 21,
  /** slot mailbox: warm spawns that found their worker not yet parked (no `Atomics.notify` needed). */
  SpinHits: 22,
  /** idle stack: pool workers that spawns asked for and the coordinator has not started yet. */
  WorkerRequests: 23,
  /** output credit: bytes of relayed output posted to the coordinator and not yet taken by the run's sink. */
  OutputInFlight: 24,
  /**
   * threads: the run the block serves now (a runtime's run number; 0 for a program of its own). A
   * runtime passes a block, with the pool workers parked on it, from one run to the next
   * (`SharedControl.rearm`): a pool worker whose instance was made for another run makes a new one
   * before it runs a thread.
   */
  Run: 25,
  /** main seat: the coordinator's order to the main thread's worker (`SeatOrder`), taken by the worker. */
  SeatOrder: 26,
  /** main seat: bytes of the run config written in the config area for the `Go` order; -1: it is in the worker's inbox. */
  SeatConfigBytes: 27,
  /** threads: instances that workers kept from the run before reset for this run (host/module/instance-reset.ts). */
  InstancesReset: 28,
} as const;
export const HEADER_WORDS = 29;

/** Bytes of the run config area (main-seat.ts) after the slots: a config that needs more goes through the inbox. */
export const SEAT_CONFIG_BYTES = 16 * 1024;

/**
 * Each slot is `[state, tid, startArg, next, pages]`: its `SlotState`, the thread assigned to it,
 * `next`, the slot below it on the idle stack plus one (0: none), and `pages`, the memory size the
 * spawner's thread saw.
 */
export const SLOT_WORDS = 5;
export const Slot = { State: 0, Tid: 1, Arg: 2, Next: 3, Pages: 4 } as const;

/** The idle stack's top word: the low bits hold slot + 1, the rest a tag that changes on every push and pop. */
export const SLOT_BITS = 14;
export const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Slots a control block can hold (slot + 1 must fit in SLOT_BITS). */
export const MAX_SLOTS = SLOT_MASK - 1;

/** The largest thread id of the wasi-threads ABI. */
export const MAX_TID = 0x1fffffff;

export const ProgramState = { Running: 0, Ending: 1 } as const;
/**
 * Idle (on the stack, maybe spinning) -> Parked (in Atomics.wait) -> Assigned (a spawn) -> Running
 * (its worker took it) -> Idle; Idle -> Assigned directly when the spawn came while it spun;
 * Idle or Parked -> Recalled when the coordinator takes the slot back.
 */
export const SlotState = { Idle: 0, Assigned: 1, Running: 2, Recalled: 3, Parked: 4 } as const;

export interface ControlLayout {
  slotCount: number;
}

export function layoutFor(slotCount: number): ControlLayout {
  if (slotCount > MAX_SLOTS) throw new RangeError(`a control block holds at most ${MAX_SLOTS} slots, not ${slotCount}`);
  return { slotCount };
}

/** Bytes of the words: header and slots. The run config area follows them. */
export function controlWordBytes({ slotCount }: ControlLayout): number {
  return (HEADER_WORDS + slotCount * SLOT_WORDS) * Int32Array.BYTES_PER_ELEMENT;
}

export function controlBufferBytes(layout: ControlLayout): number {
  return controlWordBytes(layout) + SEAT_CONFIG_BYTES;
}

/** The index of word `field` of `slot`'s mailbox. */
export function slotWord(slot: number, field: number): number {
  return HEADER_WORDS + slot * SLOT_WORDS + field;
}

/** The atomic steps the protocols are made of, on the control block's words. */
export class ControlWords {
  constructor(readonly words: Int32Array) {}

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
}
