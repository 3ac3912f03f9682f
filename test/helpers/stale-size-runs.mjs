// Runs each stale-size fixture (fixtures/stale-size.ts) with the grow guard on, RUNS times as a
// program of its own (startWasiMain, as the CLI does) and RUNS times on one runtime, and, for the
// families in CONTROLS, UNGUARDED times as a program with the guard off. Prints (as JSON), by family
// and way, how many runs trapped, with the distinct trap messages. Run it as
// `node [--no-liftoff] stale-size-runs.mjs JSON`:
//   '{"dir":"fixtures/build","families":["fill"],"controls":["fill"],"runs":10,"unguarded":3}'
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, startWasiMain, ThreadTrapError } from 'wasi-threads-wrapper';

const { dir, families, controls = families, runs, unguarded } = JSON.parse(process.argv[2]);
const entryFile = new URL('../../dist/worker-entry.js', import.meta.url);

/** Runs `once` `count` times; a ThreadTrapError counts as a trap, any other error is thrown. */
async function tally(count, once) {
  const seen = { runs: count, traps: 0, messages: [], exitCodes: [], growGuard: undefined };
  for (let i = 0; i < count; i++) {
    try {
      const { exitCode, growGuard } = await once();
      seen.exitCodes.push(exitCode);
      seen.growGuard = growGuard;
    } catch (error) {
      if (!(error instanceof ThreadTrapError)) throw error;
      seen.traps++;
      if (!seen.messages.includes(error.message)) seen.messages.push(error.message);
    }
  }
  return seen;
}

const program = (wasmFile, growGuard) => async () => {
  const started = await startWasiMain({ entryFile, wasmFile, growGuard, poolSize: 1 });
  return { exitCode: await started.exited, growGuard: started.stats().growGuard.status };
};

const results = {};
for (const family of families) {
  const wasmFile = join(dir, `stale_${family}.wasm`);
  const runtime = await createRuntime({ wasmFile, poolSize: 1, preparedRuns: 1, maxConcurrentRuns: 1 });
  results[family] = {
    program: await tally(runs, program(wasmFile, true)),
    runtime: await tally(runs, async () => ({ exitCode: (await runtime.run({ timeoutMs: 30_000 })).exitCode, growGuard: runtime.stats().growGuard.status })),
    unguarded: await tally(controls.includes(family) ? unguarded : 0, program(wasmFile, false)),
  };
  await runtime.close();
}
writeSync(1, `${JSON.stringify(results)}\n`);
