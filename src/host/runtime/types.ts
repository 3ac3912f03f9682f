/** What a runtime reports: a run's result, and the runtime's stats. */

import type { GrowGuardReport } from '../module/grow-guard/grow-guard.js';
import type { InstanceResetReport } from '../module/instance-reset.js';
import type { ProgramStats } from '../program/types.js';
import type { RuntimeWorkerStats } from './runtime-workers.js';

export interface RunResult {
  exitCode: number;
  /** What the program wrote to stdout, when `stdout: 'buffer'`; else empty. */
  stdout: Buffer;
  stderr: Buffer;
  stats: ProgramStats;
  /** From `run()` to the end, the time in the queue included. */
  durationMs: number;
}

export interface RuntimeStats extends RuntimeWorkerStats {
  /** Runs that ended (with an exit code or an error). */
  runs: number;
  activeRuns: number;
  queuedRuns: number;
  liveInstances: number;
  /** Runs and instances that found a prepared run ready, and those that had to wait for one. */
  preparedHits: number;
  preparedMisses: number;
  /** Memories made for runs and instances; the other runs reused one an ended run left. */
  memoriesCreated: number;
  /** What the grow guard did to the runtime's module (see `guardMemoryGrowth`). */
  growGuard: GrowGuardReport;
  /** Whether the runtime's kept workers reset their instances from run to run, or make new ones (and why). */
  instanceReset: InstanceResetReport;
}
