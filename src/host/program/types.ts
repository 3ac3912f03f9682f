/** The types a program is started and reported with. */

import type { SharedControl } from '../../shared/control/control.js';
import type { RunConfig } from '../../shared/messages.js';
import type { OpenedPreopens } from '../../wasi/fd-owner.js';
import type { StdinSource } from '../../wasi/stdin-relay.js';
import type { GrowGuardReport } from '../module/grow-guard/grow-guard.js';
import type { WorkerHandle, WorkerSource } from '../worker-source.js';
import type { OutputSink } from './output-relay.js';

export interface ProgramStats {
  /** Spawns served by a parked pool worker. */
  warmSpawns: number;
  /** Spawns that had to start a new worker. */
  coldSpawns: number;
  /** Spawns refused (maxThreads reached, or the program was ending). */
  failedSpawns: number;
  peakLiveThreads: number;
  liveThreads: number;
  /** Every worker started for this program, the main thread's included. */
  workersCreated: number;
  /**
   * A runtime's run only: pool workers it found parked from the run before, on the same memory
   * (they did nothing for this run unless a spawn handed them a thread).
   */
  poolWorkersKept?: number;
  /** A runtime's run only: its main thread's worker was kept on the main seat from the run before (it was not booted). */
  mainWorkerKept?: boolean;
  /**
   * A runtime's run only: instances that workers kept from the run before reset for this run
   * rather than make anew (a module the load-time reset could rewrite: `RuntimeStats.instanceReset`).
   */
  instancesReset?: number;
  /** Warm spawns whose worker was still spinning (not parked): they needed no `Atomics.notify`. */
  spinHits: number;
  /** CPU time idle workers spent spinning for their next thread, in milliseconds (all workers together). */
  spinMs: number;
  /** What the grow guard did to the program's module (see `guardMemoryGrowth`). */
  growGuard: GrowGuardReport;
}

/** How a runtime starts a prepared program: its WASI config, stdio and preopens. */
export interface ProgramStart {
  config: RunConfig;
  /** Host fds (or RELAYED numbers) for fds 0-2. */
  stdio: number[];
  preopens: OpenedPreopens;
  /** A reactor: `_initialize`, then calls; else `_start`. */
  reactor: boolean;
  maxThreads: number;
  /** Serves reads of a relayed stdin. */
  stdin?: StdinSource;
  /** Takes the program's relayed stdout (1) and stderr (2); calls `taken` once the sink took the bytes (the program may write more then). */
  output?: OutputSink;
}

/** How a program is set up: as a program of its own, or prepared by a runtime to start later. */
export interface ProgramSetup {
  /** Where its workers come from (default: workers of its own). */
  source?: WorkerSource;
  /** The program's number in its runtime; 0 for one of its own. */
  run?: number;
  /** Prepared: workers are instantiated now, and the main thread waits for `go()`. */
  prepared?: boolean;
  /** The memory comes from an earlier run: the main thread zeroes it before anything else touches it. */
  clearMemory?: boolean;
  /** A runtime's run: the pool an earlier run on the same memory left parked (see `KeptPool`). */
  keptPool?: KeptPool;
  /** A runtime's run: who may keep the program's pool when it ends at rest. */
  poolKeeper?: PoolKeeper;
}

/** Takes the pool of a run that ended with every pool worker parked and no thread alive. */
export interface PoolKeeper {
  /** Whether it would keep a pool now. */
  wanted(): boolean;
  /** The pool is its own from now on: its workers are not recalled; their events go where it says. */
  keep(pool: KeptPool): void;
  /**
   * The run that kept it has fully ended (before its `exited` settles): every other worker is back
   * or ended, but for `workersLeftBehind`; its descriptors are closed and the table emptied.
   */
  settle(workersLeftBehind: number): void;
}

/**
 * What a runtime's run that ended at rest leaves for the next run on the same memory: its control
 * block and descriptor table, the pool workers parked on that block, and its main thread's worker
 * on the block's main seat. The next run rearms the
 * block (`SharedControl.rearm`) and clears the table and the memory before any of its threads runs.
 */
export interface KeptPool {
  control: SharedControl;
  /** The descriptor table's buffer, every descriptor closed. */
  fdTable: SharedArrayBuffer;
  /** Each parked pool worker and its slot on `control`. */
  workers: Array<{ handle: WorkerHandle; slot: number }>;
  /** The run's main thread worker, waiting on the block's main seat for its next order (shared/control/main-seat.ts). */
  main?: WorkerHandle;
}
