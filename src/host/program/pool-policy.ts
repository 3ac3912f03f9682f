/**
 * The warm pool's policy, on the main JS thread: how many idle workers a program keeps, and when
 * it starts or ends them. Spawns themselves never wait for this code (they claim from the idle
 * stack); it only keeps the stack stocked.
 *
 * - The initial pool starts once the main thread's instance exists, at most
 *   INITIAL_POOL_CONCURRENCY booting at once; the wasm main thread does not wait for it.
 * - A claim leaves the pool short: if no worker came back within REFILL_DELAY_MS, new pool workers
 *   start in the background (short threads return their workers at once, and a refill would only
 *   push them out).
 * - A spawn that found none idle and none coming asks for one more (`IdleStack.requestWorker`).
 * - Returning workers always park again, so a spawn+join loop never retires a worker only to start
 *   another; idle workers beyond poolSize are trimmed once no spawn came for TRIM_IDLE_MS.
 * - Starts no spawn waits for are put off while the program's threads hold every CPU.
 */
import { availableParallelism } from 'node:os';
import type { SharedControl } from '../../shared/control/control.js';

const REFILL_DELAY_MS = 5;
const TRIM_IDLE_MS = 1000;
/** Initial pool workers booting at once: all CPUs but the one the wasm main thread needs. */
const INITIAL_POOL_CONCURRENCY = Math.max(1, availableParallelism() - 1);
/** How often a pool start put off while the program's threads hold every CPU looks again. */
const DEFERRED_POOL_MS = 10;

/** What the pool policy needs of its program. */
export interface PoolOwner {
  /** Whether the program has ended (or is ending). */
  ended(): boolean;
  /** Whether a slot is free for one more worker. */
  hasFreeSlot(): boolean;
  /** Starts a pool worker on a free slot (counted as starting by the caller); false, and uncounted, if it could not. */
  startPoolWorker(initialPool: boolean): boolean;
  /** Whether a runtime's workers are on their way back (one will do in a moment). */
  workersComingBack(): boolean;
  /** The worker of the idle `slot`, recalled, leaves the program. */
  retireIdle(slot: number): void;
  /** The initial pool is up. */
  poolReady(): void;
  /** Looks at the control block's events now. */
  checkEvents(): void;
}

export class PoolPolicy {
  /** Workers of the initial pool not ready yet. */
  private initialPoolPending: number;
  /** Workers of the initial pool not started yet. */
  private initialPoolToStart: number;
  private refillTimer: NodeJS.Timeout | undefined;
  private trimTimer: NodeJS.Timeout | undefined;
  /** Set while a pool start (initial pool or refill) is put off because the program holds every CPU. */
  private poolTimer: NodeJS.Timeout | undefined;
  /** Spawns counted at the last trim look: a surplus is trimmed only if none came since. */
  private spawnsAtTrim = -1;

  /** `kept`: pool workers an earlier run left parked on the control block (on the stack, their places taken). */
  constructor(
    private readonly control: SharedControl,
    private readonly poolSize: number,
    kept: number,
    private readonly owner: PoolOwner,
  ) {
    this.initialPoolPending = Math.max(0, poolSize - kept);
    this.initialPoolToStart = this.initialPoolPending;
  }

  /** Whether every worker of the initial pool is ready. */
  get initialPoolReady(): boolean {
    return this.initialPoolPending === 0;
  }

  /**
   * The program starts. Its pool starts once the main thread's instance exists (`mainReady`): its
   * workers would wait for that anyway, and starting them sooner only takes CPU from the main
   * thread's start. They are counted as starting from now, so an early spawn waits for them rather
   * than ask for more.
   */
  start(): void {
    this.control.idle.poolWorkersStarting(this.initialPoolToStart);
    this.control.idle.reserve(this.initialPoolToStart);
    if (this.initialPoolPending === 0) this.owner.poolReady();
    this.trimTimer = setInterval(() => this.trimIdle(), TRIM_IDLE_MS);
    this.trimTimer.unref();
  }

  /** The main thread's instance exists: the initial pool may start. */
  mainReady(): void {
    this.startInitialPool();
  }

  /** A worker of the initial pool is ready: the next one may start. */
  initialWorkerReady(): void {
    if (--this.initialPoolPending === 0) this.owner.poolReady();
    this.startInitialPool();
  }

  /** The events before the program's own: worker requests, and a put-off start that may go on now. */
  serveRequests(): void {
    this.serveWorkerRequests();
    // A spawn that waits for a pool worker signals: a put-off pool start goes on now.
    if (this.poolTimer !== undefined && !this.startsWait()) {
      clearTimeout(this.poolTimer);
      this.poolTimer = undefined;
      this.startInitialPool();
    }
  }

  /** A claim consumed the watch: look again in a moment (which re-arms it), never per claim. */
  refillIfClaimed(): void {
    if (this.refillTimer !== undefined || this.initialPoolPending > 0) return;
    if (this.control.events.claimWatchTaken()) this.scheduleRefill();
  }

  /** The program ends: no timer of the pool's is left. */
  end(): void {
    clearTimeout(this.refillTimer);
    clearTimeout(this.poolTimer);
    clearInterval(this.trimTimer);
  }

  /** Starts pool workers until the pool's places are all taken (returning workers take them too). */
  private fillPool(): void {
    while (!this.owner.ended() && this.owner.hasFreeSlot() && this.control.idle.reservePlaceBelow(this.poolSize)) {
      this.control.idle.poolWorkersStarting(1);
      if (this.owner.startPoolWorker(false)) continue;
      // The runtime is at its cap on workers: the pool stays short.
      this.control.idle.reserve(-1);
      break;
    }
  }

  /**
   * Starts the next workers of the initial pool, at most INITIAL_POOL_CONCURRENCY booting at once
   * (the next starts when one is ready): a worker's boot is CPU-bound, and booting them all at once
   * takes the CPU (and V8's background threads) from the wasm main thread's start.
   */
  private startInitialPool(): void {
    if (this.initialPoolToStart === 0 || this.owner.ended()) return;
    if (this.startsWait()) {
      this.deferStart();
      return;
    }
    const booting = this.initialPoolPending - this.initialPoolToStart;
    for (let i = booting; i < INITIAL_POOL_CONCURRENCY && this.initialPoolToStart > 0 && !this.owner.ended(); i++) {
      this.initialPoolToStart--;
      // Counted as starting (and its pool place taken) when the program started.
      if (this.owner.startPoolWorker(true)) continue;
      // The runtime is at its cap on workers: the pool stays short; spawns stop waiting for it.
      const missing = this.initialPoolToStart + 1;
      this.control.idle.poolWorkersFailed(this.initialPoolToStart);
      this.control.idle.reserve(-missing);
      this.initialPoolToStart = 0;
      this.initialPoolPending -= missing;
      if (this.initialPoolPending === 0) this.owner.poolReady();
      return;
    }
  }

  /**
   * Whether pool workers that no spawn waits for (the initial pool, refills) should start later:
   * - while the program's threads hold every CPU and no spawn waits for a worker: booting one now
   *   (tens of milliseconds of CPU) would only slow them (BENCHMARKS.md has a prime count on 2
   *   cores). The wasm main thread is counted busy too (it may be blocked in a join; it may not).
   * - while no runtime worker is free but some are on their way back: one will do in a moment,
   *   where a new one takes tens of milliseconds to start.
   */
  private startsWait(): boolean {
    return this.control.threadsHoldEveryCpu() || this.owner.workersComingBack();
  }

  /** Looks again in DEFERRED_POOL_MS (and at the next event: a spawn that waits says so). */
  private deferStart(): void {
    this.poolTimer ??= setTimeout(() => {
      this.poolTimer = undefined;
      this.startInitialPool();
      this.owner.checkEvents();
    }, DEFERRED_POOL_MS);
  }

  /**
   * Starts the pool workers that spawns asked for (`IdleStack.requestWorker`, which counted them
   * as starting). They join the pool beyond poolSize; a surplus that stays idle is trimmed.
   */
  private serveWorkerRequests(): void {
    for (let n = this.control.idle.takeWorkerRequests(); n > 0; n--) {
      this.control.idle.reserve(1);
      if (!this.owner.startPoolWorker(false)) this.control.idle.reserve(-1);
    }
  }

  /** Asks the next claim to signal; claims in between go unreported (see `CoordinatorEvents`). */
  private watchClaims(): void {
    this.control.events.watchClaims();
    // A claim that came before the flag was set went unreported: look once more.
    if (this.short() && this.control.events.takeClaimWatch()) this.scheduleRefill();
  }

  private short(): boolean {
    return this.control.idle.reserved() < this.poolSize;
  }

  private scheduleRefill(): void {
    const returns = this.control.idle.returnsSoFar();
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      if (this.owner.ended()) return;
      if (!this.short()) this.watchClaims();
      else if (this.startsWait()) this.scheduleRefill();
      else if (this.control.idle.returnsSoFar() === returns) {
        this.fillPool();
        this.watchClaims();
      } else {
        this.scheduleRefill();
      }
    }, REFILL_DELAY_MS);
  }

  /**
   * Every TRIM_IDLE_MS: if no spawn came since the last look, idle workers beyond poolSize leave
   * (the most recently parked first; all are idle alike). A popped slot is this method's alone, so
   * its recall cannot fail; its worker leaves the program and goes back to its source.
   */
  private trimIdle(): void {
    if (this.owner.ended()) return;
    const spawns = this.control.threads.spawnsSoFar();
    const quiet = spawns === this.spawnsAtTrim;
    this.spawnsAtTrim = spawns;
    if (!quiet) return;
    while (this.control.idle.reserved() > this.poolSize) {
      const slot = this.control.idle.claim();
      if (slot < 0) break;
      this.control.slots.recall(slot);
      this.control.idle.reserve(-1);
      this.owner.retireIdle(slot);
    }
  }
}
