// The worker script of emnapi-host.mjs, after @emnapi/wasi-threads' README.

import { WASI } from 'node:wasi';
import { parentPort, workerData } from 'node:worker_threads';
import { ThreadMessageHandler, WASIThreads } from '@emnapi/wasi-threads';

const postMessage = (message) => parentPort.postMessage(message);
const handler = new ThreadMessageHandler({
  postMessage,
  async onLoad({ wasmModule, wasmMemory }) {
    const wasi = new WASI(workerData.wasiOptions);
    const wasiThreads = new WASIThreads({ wasi, childThread: true, postMessage });
    const original = await WebAssembly.instantiate(wasmModule, {
      env: { memory: wasmMemory },
      wasi_snapshot_preview1: wasi.wasiImport,
      ...wasiThreads.getImportObject(),
    });
    return { module: wasmModule, instance: wasiThreads.initialize(original, wasmModule, wasmMemory) };
  },
});
parentPort.on('message', (data) => handler.handle({ data }));
