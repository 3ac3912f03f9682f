// The main job: runs two real threaded wasm programs (built from fixtures/zig) on the default
// settings, and prints their output and how their threads were spawned.
//   npm start
import { isMainThread } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { writeSync } from 'node:fs';
import { initWasiWorker, startWasiMain } from 'wasi-threads-wrapper';

const programs = [
  { name: 'primes', args: ['2', '2000000'], about: 'CPU-bound: counts primes with 2 threads' },
  { name: 'short_threads', args: ['2000', '2'], about: 'spawns and joins 2000 short threads, 2 at a time' },
];

// Not console.log: touching process.stdout here would make a piped stdout non-blocking for the
// wasm threads too (see the README's notes on Node 20).
const say = (text) => writeSync(1, `${text}\n`);

if (isMainThread) {
  for (const { name, args, about } of programs) {
    say(`\n$ ${name} ${args.join(' ')}    # ${about}`);
    const started = performance.now();
    const program = await startWasiMain({
      entryFile: fileURLToPath(import.meta.url),
      wasmFile: fileURLToPath(new URL(`../fixtures/build/${name}.wasm`, import.meta.url)),
      wasiOptions: { args: [name, ...args] },
    });
    const exitCode = await program.exited;
    const ms = (performance.now() - started).toFixed(0);
    const { warmSpawns, coldSpawns, failedSpawns, peakLiveThreads, workersCreated } = program.stats();
    say(`exit code ${exitCode} after ${ms} ms; spawns: ${warmSpawns} warm, ${coldSpawns} cold, ${failedSpawns} failed; ` +
      `peak ${peakLiveThreads} live threads; ${workersCreated} workers started`);
  }
} else {
  await initWasiWorker();
}
