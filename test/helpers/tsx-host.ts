// A host script in TypeScript, run with `tsx test/helpers/tsx-host.ts WASM [import-tsx]`: the README's
// single-file pattern, with the workers running this same .ts file. With `import-tsx` the workers
// get tsx through workerOptions.execArgv; without it they cannot load .ts.
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { initWasiMain, initWasiWorker, type WasiMainConfig } from 'wasi-threads-wrapper';

if (isMainThread) {
  const [wasmFile, mode] = process.argv.slice(2) as [string, string | undefined];
  const config: WasiMainConfig = { entryFile: fileURLToPath(import.meta.url), wasmFile, wasiOptions: { args: ['counter', '2', '10'] } };
  if (mode === 'import-tsx') config.workerOptions = { execArgv: ['--import', 'tsx'] };
  try {
    process.exitCode = await initWasiMain(config);
  } catch (error) {
    writeSync(2, `${(error as Error).name}: ${(error as Error).message}\n`);
    process.exitCode = 70;
  }
} else {
  await initWasiWorker();
}
