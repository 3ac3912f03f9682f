/**
 * A ready-made `entryFile` / `threadFile` for programs that need no per-worker configuration:
 * `entryFile: fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'))`.
 */
import { initWasiWorker } from './worker/init-wasi-worker.js';

await initWasiWorker();
