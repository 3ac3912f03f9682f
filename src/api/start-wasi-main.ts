/** `startWasiMain` and the seed's `initWasiMain`: a program of its own, on workers of its own. */
import { ModuleRequirementError, NO_START } from '../base/errors.js';
import { LIBRARY_WORKER, resolveConfig, type WasiMainConfig } from '../base/options.js';
import { loadProgram } from '../host/module/module-loader.js';
import { Program } from '../host/program/program.js';
import type { ProgramStats } from '../host/program/types.js';

/** A running wasm program: its exit, its spawn statistics, and a way to end it early. */
export interface WasiProgram {
  readonly namespace: string;
  /** Resolves with the exit code, or rejects with the error that ended the program. */
  readonly exited: Promise<number>;
  stats(): ProgramStats;
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
