// Runs WASM RUNS times on a runtime with the grow guard on, and RUNS times with it off; prints how
// many runs trapped and how many exited 0, with the Node version. Usage: count-traps.mjs WASM RUNS
import { createRuntime, ThreadTrapError } from 'wasi-threads-wrapper';

const [wasmFile, runs] = [process.argv[2], Number(process.argv[3])];
const counts = {};
for (const growGuard of [true, false]) {
  const runtime = await createRuntime({ wasmFile, growGuard, maxConcurrentRuns: 1 });
  let traps = 0;
  let ok = 0;
  for (let i = 0; i < runs; i++) {
    try {
      if ((await runtime.run({ stdout: 'buffer', timeoutMs: 60_000 })).exitCode === 0) ok++;
    } catch (error) {
      if (!(error instanceof ThreadTrapError)) throw error;
      traps++;
    }
  }
  await runtime.close();
  counts[growGuard ? 'guarded' : 'unguarded'] = { runs, traps, ok };
}
console.log(process.version, JSON.stringify(counts));
