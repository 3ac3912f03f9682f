/**
 * The worker side's entry: `initWasiWorker` tells what this worker is (a runtime's worker, or one
 * a program started for one role), sets up its WASI, and hands it to the program's instance
 * (instantiate.ts), which runs the wasm main thread or pooled threads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WasiThreadsError } from '../base/errors.js';
import { BOOT_KEY, type BootData, errorInfo, RUNTIME_KEY, type RuntimeWorkerData } from '../shared/messages.js';
import { runProgram } from './instantiate.js';
import { serveRuntime } from './runtime-loop.js';
import { createWasi, type WasiLike } from './wasi-imports.js';
import type { WorkerConfig, WorkerConfigFunction } from './worker-config.js';
import { halt, type WorkerLink } from './worker-link.js';

export type { WorkerConfig, WorkerConfigFunction } from './worker-config.js';

/** Runs inside every worker the library starts. Resolves (main thread) or parks for good (pool). */
export async function initWasiWorker(configFunc?: WorkerConfigFunction): Promise<void> {
  const data = workerData as Record<string, unknown> | null;
  const runtime = data?.[RUNTIME_KEY] as RuntimeWorkerData | undefined;
  if (runtime && parentPort) return serveRuntime(runtime);
  const boot = data?.[BOOT_KEY] as BootData | undefined;
  if (!boot || !parentPort) {
    throw new WasiThreadsError(
      'ERR_WASI_THREADS_NOT_A_WORKER',
      'initWasiWorker() must run inside a worker started by initWasiMain(): call it in your entryFile when !isMainThread',
    );
  }
  const port = parentPort;
  const link: WorkerLink = { post: (message) => port.postMessage(message) };
  let config: WorkerConfig;
  let wasi: WasiLike;
  try {
    config = (await configFunc?.(boot.namespace, boot.role)) ?? {};
    wasi = config.wasi ?? (await createWasi(boot, link.post));
  } catch (error) {
    link.post({ type: 'fatal', error: errorInfo(error) });
    halt();
  }
  runProgram(boot, config, wasi, link);
}
