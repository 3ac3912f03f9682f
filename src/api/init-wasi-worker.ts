/**
 * The seed's `initWasiWorker`, for a worker script of the user's own. The worker side is loaded
 * only when a worker calls it: the package's main entry, which the main JS thread loads, holds no
 * worker-only module (a test walks its imports).
 */
import type { WorkerConfigFunction } from '../worker/init-wasi-worker.js';

/** Sets this worker up for the program the coordinator hands it, then runs its thread or threads. */
export async function initWasiWorker(configFunc?: WorkerConfigFunction): Promise<void> {
  const worker = await import('../worker/init-wasi-worker.js');
  return worker.initWasiWorker(configFunc);
}
