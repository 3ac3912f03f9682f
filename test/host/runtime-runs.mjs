// Runs COUNT runs one after another in one runtime (never closed), and prints (as JSON) the
// runtime's stats and the process's RSS, virtual size and open descriptors after a full GC at each
// sample point. The process must then end by itself: an idle runtime keeps no process alive.
//   node --expose-gc runtime-runs.mjs '{"wasm":"/path/first_instruction.wasm","count":10000,"samples":[1000,10000]}'
import { readFileSync, readdirSync, writeSync } from 'node:fs';
import { createRuntime } from 'wasi-threads-wrapper';

const { wasm, count, samples, poolSize = 2 } = JSON.parse(process.argv[2]);

async function measure() {
  for (let i = 0; i < 2; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss: kb('VmRSS'), virtual: kb('VmSize'), fds: readdirSync('/proc/self/fd').length, heapUsed, external, arrayBuffers };
}

const runtime = await createRuntime({ wasmFile: wasm, poolSize });
const seen = {};
const codes = new Set();
let bytes = 0;
for (let i = 1; i <= count; i++) {
  const result = await runtime.run({ args: ['first_instruction'], stdout: 'buffer' });
  codes.add(result.exitCode);
  bytes += result.stdout.length;
  if (samples.includes(i)) seen[i] = { ...(await measure()), stats: runtime.stats() };
}
writeSync(1, JSON.stringify({ seen, codes: [...codes], bytes }) + '\n');
