/** The errors a program ends with when one of its workers fails, worded for the user: who the worker ran, and what to check. */
import { ModuleRequirementError, type WasiThreadsError, WorkerFailedError } from '../../base/errors.js';
import type { ErrorInfo } from '../../shared/messages.js';

/** The worker of `who` threw (its script, or the worker's own start). */
export function workerThrew(who: string, error: Error): WasiThreadsError {
  const hint =
    (error as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION'
      ? ' (this worker has no TypeScript loader: Node 20 does not give workers the module hooks a loader such as tsx registers, Node 22+ does;' +
        " point entryFile/threadFile at a .js file such as wasi-threads-wrapper/worker, or give workers a loader with workerOptions: { execArgv: ['--import', ...] })"
      : '';
  return new WorkerFailedError(`the worker of ${who} threw: ${error.message}${hint}`, error);
}

/** The worker of `who` exited while the program ran. */
export function workerExited(who: string, exitCode: number, ready: boolean): WasiThreadsError {
  return new WorkerFailedError(
    `the worker of ${who} exited (code ${exitCode}) while the program was running${ready ? '' : '; did its script call initWasiWorker()?'}`,
  );
}

/** The worker of `who` could not set up (its report, rebuilt: a module the worker found wanting stays a ModuleRequirementError). */
export function workerFatal(who: string, info: ErrorInfo): WasiThreadsError {
  if (info.code === 'ERR_WASI_THREADS_MODULE') return new ModuleRequirementError(info.message);
  return new WorkerFailedError(`the worker of ${who} failed to start: ${info.name}: ${info.message}`, info);
}
