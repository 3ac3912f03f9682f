// Runs a wasm program RUNS times on one runtime (poolSize 3) and prints, counted, what each run
// printed with how many instances it reset (test/local/c-reset.sh).
//   node test/local/c-reset.mjs program.wasm [RUNS]
import { createRuntime } from '../../dist/index.js';

const [wasm, runs = '200'] = process.argv.slice(2);
const runtime = await createRuntime({ wasmFile: wasm, poolSize: 3, maxConcurrentRuns: 1 });
const seen = {};
for (let i = 0; i < Number(runs); i++) {
  const { exitCode, stdout, stats } = await runtime.run({ stdout: 'buffer' });
  const key = `exit ${exitCode}, printed ${stdout.toString().trim()}, instances reset ${stats.instancesReset}`;
  seen[key] = (seen[key] ?? 0) + 1;
}
console.log(JSON.stringify(runtime.stats().instanceReset), seen);
await runtime.close();
