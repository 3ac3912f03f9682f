/**
 * wasi-threads-wrapper: run wasi-threads WebAssembly programs on Node.js with a warm worker pool.
 */
import './liftoff-workaround.js';
import { Program } from './coordinator.js';
import { ModuleRequirementError } from './errors.js';
import { loadProgram } from './module-loader.js';
import { resolveConfig, type WasiMainConfig } from './options.js';
import { LIBRARY_WORKER, NO_START } from './thread-worker.js';

export type { ProgramStats } from './coordinator.js';
export {
  InvalidOptionError,
  ModuleRequirementError,
  ProgramDestroyedError,
  RunAbortedError,
  RunOutputError,
  RunOutputLimitError,
  RunTimeoutError,
  RuntimeClosedError,
  ThreadTrapError,
  WasiThreadsError,
  WasmLoadError,
  WorkerFailedError,
} from './errors.js';
export type { MemorySetting, WasiMainConfig, WasiOptions, WorkerOptions } from './options.js';
export { DEFAULTS } from './options.js';
export type { ThreadRole } from './protocol.js';
export type { CallOptions, InputSource, OutputTarget, RunOptions, RunResult, RuntimeConfig, RuntimeOptions, RuntimeStats } from './runtime.js';
export { createRuntime, Runtime, WasmInstance } from './runtime.js';
export type { WorkerConfig, WorkerConfigFunction } from './thread-worker.js';
export { initWasiWorker } from './thread-worker.js';
export type { WasiLike } from './wasi-glue.js';

/** A running wasm program: its exit, its spawn statistics, and a way to end it early. */
export interface WasiProgram {
  readonly namespace: string;
  /** Resolves with the exit code, or rejects with the error that ended the program. */
  readonly exited: Promise<number>;
  stats(): import('./coordinator.js').ProgramStats;
  /** Ends every worker of the program; `exited` then rejects with ProgramDestroyedError. */
  destroy(): Promise<void>;
  /** Workers of this program still alive (0 once it has ended). */
  readonly liveWorkers: number;
}

/**
 * Starts the program and returns at once with its handle. Every check on the config and the module
 * happens before any worker starts, and a failing check rejects with a typed error.
 */
export async function startWasiMain(config: WasiMainConfig): Promise<WasiProgram> {
  const resolved = resolveConfig(config);
  const loaded = await loadProgram({ ...config, initMethod: resolved.initMethod, memorySetting: resolved.memorySetting });
  // The library's own worker script has no config function (no noWasiStart, no custom wasi), so
  // a module without _start cannot run there: say so before any worker starts. Other entry
  // files may configure it away; their workers report it as a ModuleRequirementError.
  if (!loaded.hasStart && !resolved.initMethod && resolved.entryFile === LIBRARY_WORKER) throw new ModuleRequirementError(NO_START);
  // A program that cannot spawn gets no pool.
  const program = new Program({ ...resolved, poolSize: loaded.threaded ? resolved.poolSize : 0 }, loaded);
  program.start();
  return program;
}

/** Runs the program to its end; resolves with its exit code (the seed's API). */
export async function initWasiMain(config: WasiMainConfig): Promise<number> {
  return (await startWasiMain(config)).exited;
}
