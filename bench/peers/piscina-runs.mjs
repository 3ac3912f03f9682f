// The memory benchmark's control: COUNT tasks one after another on piscina's persistent workers (the
// HTTP peer's pool, a count below 10 each), sampled like test/helpers/runtime-runs.mjs samples a
// runtime: the process's RSS, after a full GC, at each sample point.
//   node --expose-gc piscina-runs.mjs '{"count":10000,"samples":[1000,10000]}'
import { writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { measure } from '../../test/helpers/measure.mjs';

const { count, samples } = JSON.parse(process.argv[2]);
const pool = new Piscina({ filename: new URL('./primes-task.mjs', import.meta.url).href, maxThreads: availableParallelism() });
const seen = {};
for (let i = 1; i <= count; i++) {
  await pool.run(10);
  if (samples.includes(i)) seen[i] = { ...(await measure()), stats: { workersCreated: pool.threads.length } };
}
await pool.destroy();
writeSync(1, `${JSON.stringify({ seen })}\n`);
