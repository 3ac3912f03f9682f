/**
 * A ready-made `entryFile` / `threadFile` for programs that need no per-worker configuration:
 * `entryFile: fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'))`.
 */
import { initWasiWorker } from './thread-worker.js';

await initWasiWorker();
