/**
 * The pools that a runtime's runs left parked, each with its memory, for the next prepared runs.
 *
 * A run that ends at rest (see `offerPool` in host/program/pool-handover.ts) does not recall its idle pool workers: they
 * stay parked on its control block, holding its memory, and the next prepared run on that memory
 * takes them as they are (`KeptPool`). So a pool worker that no thread of a run uses does nothing
 * for that run: no boot, no instance, no message, no garbage (a pool booted for every run cost
 * ~0.5 ms of CPU a worker a run, BENCHMARKS.md §6).
 *
 * Invariants:
 * - A pool is kept only with its memory (the runtime's maximum, passable as memory-pool.ts says),
 *   and is ready for a run only once its run has fully ended (`settle`): every other worker of
 *   that run is back or ended, none was left behind, its descriptors are closed and its table
 *   emptied. The next run rearms the block and zeroes the memory before any of its threads runs,
 *   and each kept worker resets its instance (or makes a new one) and its WASI before it runs a
 *   thread of that run.
 * - While kept, a pool's workers are the runtime's: a worker that ends (or fails) meanwhile
 *   spoils its pool, which is let go (the rest recalled) and never handed to a run.
 * - At most `max` pools are kept or settling at once; a pool let go (`release`) gives its workers
 *   back to the runtime and its memory to the memory pool.
 */
import type { LocatedMemory } from '../../shared/memory-clear.js';
import { releasePoolWorker } from '../program/program-workers.js';
import type { KeptPool, PoolKeeper } from '../program/types.js';
import type { WorkerEvents, WorkerHandle, WorkerSource } from '../worker-source.js';
import type { MemoryPool } from './memory-pool.js';

interface Kept {
  pool: KeptPool;
  memory: LocatedMemory;
  maximum: number | undefined;
  /** One of its workers ended or failed while it was kept. */
  spoiled: boolean;
}

/** A kept pool, as the next run takes it. */
export interface TakenPool {
  pool: KeptPool;
  memory: LocatedMemory;
}

export class KeptPools {
  private ready: Kept[] = [];
  private settling = 0;
  private closed = false;

  constructor(
    private readonly source: WorkerSource,
    private readonly memories: MemoryPool,
    /** The most pools kept or settling at once. */
    private readonly max: number,
    /** A pool is ready for a run. */
    private readonly onReady: () => void,
  ) {}

  /** Pool workers in the pool the next run would take. */
  get nextPoolSize(): number {
    return this.ready.at(-1)?.pool.workers.length ?? 0;
  }

  /** Whether the pool the next run would take has its main thread's worker. */
  get nextHasMain(): boolean {
    return this.ready.at(-1)?.pool.main !== undefined;
  }

  /** Whether a pool is ready for a run. */
  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /** The pool (and its memory) a run with the runtime's maximum takes, if one is ready. */
  take(): TakenPool | undefined {
    const kept = this.ready.pop();
    return kept && { pool: kept.pool, memory: kept.memory };
  }

  /**
   * The keeper of run `run` on `memory`, and `kept()`, which says, once that run has ended, whether
   * the memory went with a kept pool (then the caller does not pass it on or let it go).
   */
  keeperFor(run: number, memory: LocatedMemory, maximum: number | undefined): { keeper: PoolKeeper; kept: () => boolean } {
    let kept: Kept | undefined;
    const keeper: PoolKeeper = {
      wanted: () => !this.closed && this.ready.length + this.settling < this.max && this.memories.passable(memory.memory, maximum),
      keep: (pool) => {
        this.settling++;
        const entry: Kept = { pool, memory, maximum, spoiled: false };
        entry.pool = { ...pool, ...this.hold(entry, pool, run) };
        kept = entry;
      },
      settle: (workersLeftBehind) => {
        if (!kept) return;
        this.settling--;
        if (this.closed || kept.spoiled || workersLeftBehind > 0) {
          void this.release(kept, workersLeftBehind);
          return;
        }
        this.ready.push(kept);
        this.onReady();
      },
    };
    return { keeper, kept: () => kept !== undefined };
  }

  /** Lets the longest-kept pool go (a running program's spawn needs its workers); whether there was one. */
  releaseOne(): boolean {
    const kept = this.ready.shift();
    if (!kept) return false;
    void this.release(kept, 0);
    return true;
  }

  /** Lets every kept pool go; those still settling are let go as they settle. Resolves once their workers are back or ended. */
  async close(): Promise<void> {
    this.closed = true;
    const all = this.ready;
    this.ready = [];
    await Promise.all(all.map((kept) => this.release(kept, 0)));
  }

  /** Takes the pool's workers over while it is kept: their events spoil it if one ends. */
  private hold(kept: Kept, pool: KeptPool, run: number): Pick<KeptPool, 'workers' | 'main'> {
    const events: WorkerEvents = {
      message: () => undefined,
      error: () => this.spoil(kept),
      exit: () => this.spoil(kept),
    };
    const take = (handle: WorkerHandle) => {
      const taken = this.source.transfer?.(handle, run, events);
      if (!taken) kept.spoiled = true;
      return taken;
    };
    const held: KeptPool['workers'] = [];
    for (const { handle, slot } of pool.workers) {
      const taken = take(handle);
      if (taken) held.push({ handle: taken, slot });
    }
    return { workers: held, main: pool.main && take(pool.main) };
  }

  private spoil(kept: Kept): void {
    if (kept.spoiled) return;
    kept.spoiled = true;
    const index = this.ready.indexOf(kept);
    if (index >= 0) {
      this.ready.splice(index, 1);
      void this.release(kept, 0);
    }
  }

  /** Recalls the pool's workers (back to the runtime), then passes its memory on or lets it go. */
  private async release(kept: Kept, workersLeftBehind: number): Promise<void> {
    const { control, workers, main } = kept.pool;
    const recalled = workers.map(({ handle, slot }) => releasePoolWorker(control, slot, handle, this.source.reusesWorkers));
    if (main) {
      // It waits on its seat, out of the program's wasm: it goes back to its loop.
      control.seat.leave();
      recalled.push(main.end(true));
    }
    await Promise.all(recalled);
    this.memories.runEnded(kept.memory, kept.maximum, workersLeftBehind, this.closed);
  }
}
