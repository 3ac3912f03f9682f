// Runs a fixture program on the peer @emnapi/wasi-threads, as its README sets it up for Node
// (the wasm main thread on the main JS thread, one worker per thread unless reuseWorker is set).
//   node emnapi-host.mjs '{"fixture":"spawnbench","args":["latency","100"],"reuseWorker":false}'
// Prints the program's output; the exit status is the program's.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import { Worker } from 'node:worker_threads';
import { WASIThreads } from '@emnapi/wasi-threads';

// The same V8 fix our runtime applies where it is needed (Node 20's Liftoff miscompiles around
// atomic waits), for a fair run.
import '../../dist/host/liftoff-workaround.js';

const { fixture, args = [], reuseWorker = false } = JSON.parse(process.argv[2]);
const wasiOptions = { version: 'preview1', args: [fixture, ...args], returnOnExit: true };
const wasi = new WASI(wasiOptions);
const wasiThreads = new WASIThreads({
  wasi,
  reuseWorker: reuseWorker ? { size: 4, strict: false } : false,
  waitThreadStart: 1000,
  onCreateWorker: () => new Worker(new URL('./emnapi-worker.mjs', import.meta.url), { workerData: { wasiOptions } }),
});
const memory = new WebAssembly.Memory({ initial: 512, maximum: 4096, shared: true });
const bytes = readFileSync(new URL(`../../fixtures/build/${fixture}.wasm`, import.meta.url));
const { module, instance } = await WebAssembly.instantiate(bytes, {
  env: { memory },
  wasi_snapshot_preview1: wasi.wasiImport,
  ...wasiThreads.getImportObject(),
});
wasiThreads.setup(instance, module, memory);
await wasiThreads.preloadWorkers();
process.exitCode = wasi.start(instance);
wasiThreads.terminateAllThreads();
