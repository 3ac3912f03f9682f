/**
 * The program's threads: its state (running, ending), admission of live threads under
 * `maxThreads`, thread ids, the main instance's flag, and the spawn counters.
 *
 * Invariants:
 * - LiveThreads never passes MaxThreads: a spawn is admitted by a compare-and-swap below the limit
 *   (`admit`), and every admitted thread is counted out once (`countOut`) or refused (`refused`).
 * - Once State is Ending it never goes back; from then on every spawn is refused, and the waits on
 *   the main instance's flag give up (`end` wakes them).
 * - A tid is never 0 (the main thread's) and is handed out once per MAX_TID spawns.
 */
import type { CoordinatorEvents } from './coordinator-events.js';
import { type ControlWords, Header, MAX_TID, ProgramState } from './layout.js';

export class Threads {
  constructor(
    private readonly words: ControlWords,
    private readonly events: CoordinatorEvents,
  ) {}

  running(): boolean {
    return this.words.load(Header.State) === ProgramState.Running;
  }

  /** Coordinator: the program is ending; spawns fail fast from now on, and `awaitMainInstantiated` gives up. */
  end(): void {
    Atomics.store(this.words.words, Header.State, ProgramState.Ending);
    Atomics.notify(this.words.words, Header.MainInstantiated);
  }

  /**
   * A spawn's first step: counts one more live thread, if the program runs and is below its limit
   * (waiting up to `graceMs` for a thread at the limit to be counted out). Returns the live count,
   * or 0 when the spawn must fail (counted as failed).
   */
  admit(graceMs: number): number {
    const live = this.running() ? this.words.incrementBelowWithin(Header.LiveThreads, this.words.load(Header.MaxThreads), graceMs) : 0;
    if (live === 0) this.words.add(Header.FailedSpawns, 1);
    else this.words.raiseTo(Header.PeakLiveThreads, live);
    return live;
  }

  /** A spawn admitted by `admit` failed after all: the thread is not live. */
  refused(): void {
    this.words.add(Header.LiveThreads, -1);
    this.words.add(Header.FailedSpawns, 1);
  }

  /**
   * A thread is gone: counts it out of the live threads (waking a spawn waiting at the limit), and
   * tells the coordinator if it was the last.
   */
  countOut(): void {
    if (this.words.decrementAndNotify(Header.LiveThreads) === 1) this.events.lastThreadGone();
  }

  nextTid(): number {
    const previous = this.words.add(Header.LastTid, 1) >>> 0;
    return (previous % MAX_TID) + 1;
  }

  live(): number {
    return this.words.load(Header.LiveThreads);
  }

  /** Coordinator, once every worker has ended: no thread is alive. */
  clearLive(): void {
    Atomics.store(this.words.words, Header.LiveThreads, 0);
  }

  /** Coordinator, before the program starts: lowers its limit on live threads. */
  limit(maxThreads: number): void {
    Atomics.store(this.words.words, Header.MaxThreads, maxThreads);
  }

  /** The run the block serves now (`Header.Run`). */
  currentRun(): number {
    return this.words.load(Header.Run);
  }

  /**
   * Coordinator, between two runs on one block (no thread alive, no spawn possible): the block
   * serves `run` now, as a new block would. Tids start again from 1, the counters from 0, and the
   * main instance is not made yet.
   */
  rearm(run: number): void {
    const { words } = this.words;
    for (const word of [
      Header.LastTid,
      Header.LiveThreads,
      Header.PeakLiveThreads,
      Header.WarmSpawns,
      Header.ColdSpawns,
      Header.FailedSpawns,
      Header.MainInstantiated,
      Header.InstancesReset,
    ]) {
      Atomics.store(words, word, 0);
    }
    Atomics.store(words, Header.Run, run);
    Atomics.store(words, Header.State, ProgramState.Running);
  }

  /** Coordinator, when it makes the block: the run it serves (see `rearm`). */
  setRun(run: number): void {
    Atomics.store(this.words.words, Header.Run, run);
  }

  /** Coordinator, when it makes the block: the machine's CPUs. */
  setCores(cores: number): void {
    Atomics.store(this.words.words, Header.Cores, cores);
  }

  /** CPUs of the machine, as the coordinator saw them. */
  cores(): number {
    return this.words.load(Header.Cores);
  }

  /** A warm spawn's thread was handed to an idle pool worker. */
  countWarm(): void {
    this.words.add(Header.WarmSpawns, 1);
  }

  /** A spawn's thread got a worker of its own. */
  countCold(): void {
    this.words.add(Header.ColdSpawns, 1);
  }

  /** A worker kept from the run before reset its instance for this run, instead of making a new one. */
  countReset(): void {
    this.words.add(Header.InstancesReset, 1);
  }

  /** Spawns so far, warm and cold. */
  spawnsSoFar(): number {
    return this.words.load(Header.WarmSpawns) + this.words.load(Header.ColdSpawns);
  }

  /** The main thread's worker: its instance exists, the others may be instantiated now. */
  markMainInstantiated(): void {
    Atomics.store(this.words.words, Header.MainInstantiated, 1);
    Atomics.notify(this.words.words, Header.MainInstantiated);
  }

  /** Any other worker: waits (terminably) until the main thread's instance exists; false if the program ended first. */
  awaitMainInstantiated(): boolean {
    while (this.words.load(Header.MainInstantiated) === 0) {
      if (!this.running()) return false;
      Atomics.wait(this.words.words, Header.MainInstantiated, 0);
    }
    return true;
  }

  /** The counters of the program's stats. */
  counters(): { warmSpawns: number; coldSpawns: number; failedSpawns: number; peakLiveThreads: number; liveThreads: number; instancesReset: number } {
    return {
      instancesReset: this.words.load(Header.InstancesReset),
      warmSpawns: this.words.load(Header.WarmSpawns),
      coldSpawns: this.words.load(Header.ColdSpawns),
      failedSpawns: this.words.load(Header.FailedSpawns),
      peakLiveThreads: this.words.load(Header.PeakLiveThreads),
      liveThreads: this.live(),
    };
  }
}
