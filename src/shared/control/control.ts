/**
 * A program's control block (layout.ts) and the protocols on it, one object each. Every thread of
 * the program builds a `SharedControl` over the same SharedArrayBuffer; the coordinator creates it.
 * The steps that touch more than one protocol at once are here, each named.
 */
import { availableParallelism } from 'node:os';
import { CoordinatorEvents } from './coordinator-events.js';
import { IdleStack } from './idle-stack.js';
import { type ControlLayout, ControlWords, controlBufferBytes, controlWordBytes, layoutFor, SEAT_CONFIG_BYTES } from './layout.js';
import { MainSeat } from './main-seat.js';
import { OutputCredit } from './output-credit.js';
import { SlotMailbox } from './slot-mailbox.js';
import { Threads } from './threads.js';

export class SharedControl {
  private readonly words: ControlWords;
  readonly events: CoordinatorEvents;
  readonly threads: Threads;
  readonly idle: IdleStack;
  readonly slots: SlotMailbox;
  readonly output: OutputCredit;
  readonly seat: MainSeat;

  constructor(
    buffer: SharedArrayBuffer,
    readonly layout: ControlLayout,
  ) {
    const wordBytes = controlWordBytes(layout);
    this.words = new ControlWords(new Int32Array(buffer, 0, wordBytes / Int32Array.BYTES_PER_ELEMENT));
    this.events = new CoordinatorEvents(this.words);
    this.threads = new Threads(this.words, this.events);
    this.idle = new IdleStack(this.words, this.threads, this.events);
    this.slots = new SlotMailbox(this.words, this.threads);
    this.output = new OutputCredit(this.words);
    this.seat = new MainSeat(this.words, new Uint8Array(buffer, wordBytes, SEAT_CONFIG_BYTES));
  }

  /** Allocates and initialises a control block; only the coordinator calls this. */
  static create(slotCount: number, maxThreads = slotCount, { cores = availableParallelism(), run = 0 } = {}): SharedControl {
    const layout = layoutFor(slotCount);
    const control = new SharedControl(new SharedArrayBuffer(controlBufferBytes(layout)), layout);
    control.threads.limit(maxThreads);
    control.threads.setCores(cores);
    control.threads.setRun(run);
    return control;
  }

  /**
   * Coordinator: the block passes to the runtime's next run, `run`, with the pool workers parked on
   * it (the last run ended with no thread alive, so nothing can spawn or write meanwhile). Every
   * per-run word starts again as in a new block; the idle stack, the pool's places and the slots
   * are kept, since the workers parked there stay. Those workers reset their instance for `run`
   * (or make a new one: host/module/instance-reset.ts) when a spawn first hands them a thread
   * (worker/pool-thread.ts); a main thread worker kept on the seat, when it is ordered to
   * `Prepare` (main-seat.ts).
   */
  rearm(run: number): void {
    this.threads.rearm(run);
    this.events.rearm();
    this.output.rearm();
    this.slots.rearm();
    this.seat.rearm();
  }

  get buffer(): SharedArrayBuffer {
    return this.words.words.buffer as SharedArrayBuffer;
  }

  /** Reads a word (stats, diagnostics, tests). Every change to a word is one of the protocols' named steps. */
  load(word: number): number {
    return this.words.load(word);
  }

  /**
   * Coordinator: the program is ending. Spawns fail fast from now on, and workers and spawns
   * waiting for the main instance or for an idle slot give up waiting.
   */
  markEnding(): void {
    this.threads.end();
    this.idle.wakeWaiters();
  }

  /** A spawn handed its thread to an idle pool worker: the pool is one place short, and the coordinator may want to hear of it. */
  warmSpawned(): void {
    this.idle.placeTaken();
    this.threads.countWarm();
    this.events.reportClaim();
  }

  /** Whether the program's threads (its main thread counted) hold every CPU and no spawn waits for a worker. */
  threadsHoldEveryCpu(): boolean {
    return this.threads.live() + 1 >= this.threads.cores() && !this.idle.hasWaiters();
  }

  /** The program's counters, for its stats. */
  counters(): {
    warmSpawns: number;
    coldSpawns: number;
    failedSpawns: number;
    peakLiveThreads: number;
    liveThreads: number;
    instancesReset: number;
    spinHits: number;
    spinMs: number;
  } {
    return { ...this.threads.counters(), ...this.slots.counters() };
  }
}
