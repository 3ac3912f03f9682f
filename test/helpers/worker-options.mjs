// Runs the counter fixture with workerOptions, and has every worker print what it got:
//   node worker-options.mjs WASM
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, resourceLimits } from 'node:worker_threads';
import { initWasiMain, initWasiWorker } from 'wasi-threads-wrapper';

if (isMainThread) {
  process.exitCode = await initWasiMain({
    entryFile: fileURLToPath(import.meta.url),
    wasmFile: process.argv[2],
    wasiOptions: { args: ['counter', '1', '10'] },
    poolSize: 1,
    workerOptions: { env: { WTW_MARK: 'given' }, execArgv: ['--no-deprecation'], resourceLimits: { maxOldGenerationSizeMb: 48 } },
  });
} else {
  writeSync(
    2,
    `worker: ${JSON.stringify({ mark: process.env.WTW_MARK, home: process.env.HOME ?? null, execArgv: process.execArgv, maxOld: resourceLimits.maxOldGenerationSizeMb })}\n`,
  );
  await initWasiWorker();
}
