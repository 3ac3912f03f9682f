/**
 * Garbage collection a runtime asks for, both ends of it: the runtime's thread and its workers.
 *
 * Why the library collects at all:
 * - A runtime worker blocks (in wasm or `Atomics.wait`) and allocates little JS, so V8 seldom
 *   runs a full collection there by itself, and a new instance's native memory (a worker that
 *   cannot reset its instance makes one a run) counts toward none of V8's triggers: such a worker
 *   runs one every MAJOR_GC_EVERY programs (without them, RSS grew from 170 to 530 MB over 10,000
 *   runs of a trivial program, 9 workers). A run for which the worker reset its instance
 *   (host/module/instance-reset.ts) leaves little garbage, and counts as 1/RESETS_PER_PROGRAM of a
 *   program; a worker also collects once its old generation grew by OLD_GROWTH_BEFORE_GC since its
 *   last full collection.
 *   How often trades CPU against RSS: a forced full collection of a worker's ~4.4 MB heap takes
 *   5-13 ms of that worker and of V8's platform threads, however little garbage there is. On
 *   spawn_join at poolSize 4 (Node 20, three workers resetting a run), one every 64 reset runs was
 *   half of a run's CPU (1.04-1.12 ms a run, 0.53-0.63 with the cadence below). RSS less the
 *   young generation of the runtime's thread, from 1,000 to 10,000 runs of it (15 workers): +3.3%
 *   on Node 20, +4.0% on Node 26 (with RUNTIME_WORKER_LIMITS; every 64 reset runs, -4% and +5%);
 *   with new instances, every 32 programs +1-3% on Node 20, 24 and 26, every 64 +8-11% on 24 and 26.
 *   Scavenges are left to V8: forcing one after every program (as the library once did) cost
 *   ~0.2 ms each, a quarter of a trivial run's CPU (3.6 -> 2.4-3.0 ms a run), and kept RSS no lower.
 * - A run's shared `WebAssembly.Memory` stays allocated (its ~10 GB reservation of address space
 *   and every page its program touched) until every isolate that held it has collected it in a
 *   full collection: a scavenge does not free it (measured on Node 20 to 26), and V8 does not count
 *   it toward its own triggers, so the runtime's thread kept the memories of ended runs for good
 *   (measured: +10 GB of address space and ~0.5 MB of RSS a run, 1.5 GB of RSS after 3,000 runs).
 *   The runtime passes memories from run to run for that reason; the few it lets go (see
 *   `MemoryPool.runEnded` in host/runtime/memory-pool.ts) are given back by the collections below.
 *
 * The protocol, one shared word (the collection epoch):
 * - the runtime, once COLLECT_AFTER_DROPS memories were let go, bumps the epoch, collects its own
 *   thread and rings its idle workers (a `collect` in their inbox);
 * - a worker, each time it leaves a program and when rung while idle, runs a full collection if
 *   the epoch moved since its last one.
 *
 * `gc()` comes from V8's expose-gc flag: set while a runtime's workers start (their isolates take
 * it then) and while this thread takes its own through a new context. A worker's full collection
 * is `gc()` without options, at once (it is idle, and parks in Atomics.wait soon after, where an
 * asynchronous one would not progress): on Node 20 (V8 11.3) `gc({ type: 'major' })` left the
 * memories alive.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => unknown;

/** A runtime worker's full collection every this many programs, whatever the epoch. */
export const MAJOR_GC_EVERY = 32;

/** Runs with a reset instance that count as one program toward MAJOR_GC_EVERY (so one full collection every 1,024 such runs at least). */
export const RESETS_PER_PROGRAM = 32;

/** Growth of a worker's old generation (its V8 heap less the young generation), in bytes, since its last full collection, that brings the next one forward. */
export const OLD_GROWTH_BEFORE_GC = 2 ** 20;

/** The bytes used in this thread's V8 heap outside its young generation (~1-3 us to read). */
export function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) if (!space.space_name.startsWith('new_')) bytes += space.space_used_size;
  return bytes;
}

/**
 * A runtime worker's V8 limits unless the caller gives its own (`workerOptions.resourceLimits`): a
 * young generation of at most 2 MB. V8 grows a thread's young generation with its allocation rate
 * and gives it back only in a full collection; a runtime's workers allocate little JS, in bursts,
 * and collect rarely (above), so each one's young generation grew to 4 MB and stayed: with 15
 * workers, RSS less the runtime thread's young generation grew 8-9% from 1,000 to 10,000 runs of
 * spawn_join (poolSize 4) on Node 20 and 26, and 2-5% with this limit.
 */
export const RUNTIME_WORKER_LIMITS = { maxYoungGenerationSizeMb: 2 } as const;

/** Memories let go before the runtime asks for collections. */
export const COLLECT_AFTER_DROPS = 8;

const processHasGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
let exposing = 0;

/**
 * Sets V8's expose-gc flag for as long as anyone needs it: a runtime's worker from its start until
 * its isolate exists (`+1` then `-1`), or this thread while it takes `gc` from a new context.
 */
export function exposeGc(change: 1 | -1): void {
  if (processHasGc) return;
  const before = exposing;
  exposing += change;
  if (before === 0 && exposing === 1) setFlagsFromString('--expose-gc');
  if (before === 1 && exposing === 0) setFlagsFromString('--no-expose-gc');
}

let threadGc: Gc | undefined;
function gcOfThisThread(): Gc {
  if (!threadGc) {
    threadGc = (globalThis as { gc?: Gc }).gc;
    if (!threadGc) {
      exposeGc(1);
      try {
        threadGc = runInNewContext('gc') as Gc;
      } finally {
        exposeGc(-1);
      }
    }
  }
  return threadGc;
}

export function createCollectEpoch(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

/** The runtime's end: counts the memories it lets go and asks for collections. */
export class CollectRequester {
  private readonly epoch: Int32Array;
  private drops = 0;

  /** `ringIdle` asks the runtime's idle workers to look at the epoch now. */
  constructor(
    epoch: SharedArrayBuffer,
    private readonly ringIdle: () => void,
  ) {
    this.epoch = new Int32Array(epoch);
  }

  /** A memory was let go (its last holder is done with it). */
  dropped(): void {
    if (++this.drops < COLLECT_AFTER_DROPS) return;
    this.drops = 0;
    Atomics.add(this.epoch, 0, 1);
    this.ringIdle();
    // After this turn: the run that let the last memory go still holds it until its caller returns.
    // Asynchronous: V8 marks concurrently and in steps, so the caller's thread does not stop for it
    // (measured on a runtime's thread: a forced synchronous collection took 11-53 ms; this, under
    // 5 ms at the call, and the memories were given back all the same on Node 20 and 24).
    setTimeout(() => void gcOfThisThread()({ type: 'major', execution: 'async' }), 0).unref();
  }
}

/** A runtime worker's end. */
export class WorkerCollector {
  private readonly epoch: Int32Array;
  private seen: number;
  private programs = 0;
  private oldAfterLast: number;
  private readonly gc = (globalThis as { gc?: Gc }).gc;

  /** `oldBytes` reads the old generation's size (a test gives its own). */
  constructor(
    epoch: SharedArrayBuffer,
    private readonly oldBytes = oldGenerationBytes,
  ) {
    this.epoch = new Int32Array(epoch);
    this.seen = Atomics.load(this.epoch, 0);
    this.oldAfterLast = oldBytes();
  }

  /**
   * After each program (or a kept worker's run, `reset` when it reset its instance for it): a full
   * collection if asked for, once MAJOR_GC_EVERY programs' worth were served since the last, or once
   * the old generation grew by more than OLD_GROWTH_BEFORE_GC since.
   */
  afterProgram(reset = false): void {
    if (!this.gc) return;
    this.programs += reset ? 1 / RESETS_PER_PROGRAM : 1;
    if (this.fullIfAsked()) return;
    if (this.programs >= MAJOR_GC_EVERY || this.oldBytes() - this.oldAfterLast > OLD_GROWTH_BEFORE_GC) this.full();
  }

  /** A full collection if the epoch moved since the last one; whether it ran. */
  fullIfAsked(): boolean {
    const now = Atomics.load(this.epoch, 0);
    if (!this.gc || now === this.seen) return false;
    this.seen = now;
    this.full();
    return true;
  }

  private full(): void {
    this.gc?.();
    this.programs = 0;
    this.oldAfterLast = this.oldBytes();
  }
}
