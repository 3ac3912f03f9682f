/**
 * wasi-threads-wrapper: run wasi-threads WebAssembly programs on Node.js with a warm worker pool.
 */
import './host/liftoff-workaround.js';

export { createRuntime } from './api/create-runtime.js';
export { initWasiWorker } from './api/init-wasi-worker.js';
export { initWasiMain, startWasiMain, type WasiProgram } from './api/start-wasi-main.js';
export {
  InvalidOptionError,
  ModuleRequirementError,
  ProgramDestroyedError,
  ProgramExitedError,
  RunAbortedError,
  RunOutputError,
  RunOutputLimitError,
  RunTimeoutError,
  RuntimeClosedError,
  ThreadTrapError,
  WasiThreadsError,
  WasmLoadError,
  WorkerFailedError,
} from './base/errors.js';
export type { MemorySetting, WasiMainConfig, WasiOptions, WorkerOptions } from './base/options.js';
export { DEFAULTS } from './base/options.js';
export type { CallOptions, InputSource, OutputTarget, RunOptions, RuntimeConfig, RuntimeOptions } from './base/run-options.js';
export type { GrowGuardReport, GrowGuardResult, GrowGuardStatus } from './host/module/grow-guard/grow-guard.js';
export { guardMemoryGrowth } from './host/module/grow-guard/grow-guard.js';
export type { ProgramStats } from './host/program/types.js';
export { Runtime } from './host/runtime/runtime.js';
export type { RunResult, RuntimeStats } from './host/runtime/types.js';
export { WasmInstance } from './host/runtime/wasm-instance.js';
export type { ThreadRole } from './shared/messages.js';
export type { WorkerConfig, WorkerConfigFunction } from './worker/init-wasi-worker.js';
export type { WasiLike } from './worker/wasi-imports.js';
