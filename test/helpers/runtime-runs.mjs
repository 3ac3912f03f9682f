// Runs COUNT runs one after another in one runtime (never closed), and prints (as JSON) the
// runtime's stats and the process's RSS, virtual size and open descriptors after a full GC at each
// sample point. The process must then end by itself: an idle runtime keeps no process alive.
//   node --expose-gc runtime-runs.mjs '{"wasm":"/path/first_instruction.wasm","count":10000,"samples":[1000,10000]}'
// Optional: "args" (each run's argv), "poolSize", "memorySetting", "instanceReset", "collect" (false: sample without a GC),
// "maxMemoryPages" (a list: run i has the i-th value, round and round).
import { writeSync } from 'node:fs';
import { createRuntime } from 'wasi-threads-wrapper';
import { measure } from './measure.mjs';

const {
  wasm,
  count,
  samples,
  poolSize = 2,
  args = ['first_instruction'],
  memorySetting,
  instanceReset,
  collect = true,
  maxMemoryPages,
} = JSON.parse(process.argv[2]);

const runtime = await createRuntime({ wasmFile: wasm, poolSize, memorySetting, instanceReset });
const seen = {};
const codes = new Set();
let bytes = 0;
for (let i = 1; i <= count; i++) {
  const result = await runtime.run({ args, stdout: 'buffer', ...(maxMemoryPages && { maxMemoryPages: maxMemoryPages[i % maxMemoryPages.length] }) });
  codes.add(result.exitCode);
  bytes += result.stdout.length;
  if (samples.includes(i)) seen[i] = { ...(await measure({ collect })), stats: runtime.stats() };
}
writeSync(1, `${JSON.stringify({ seen, codes: [...codes], bytes })}\n`);
