// Runs COUNT threaded programs one after another in this one process, and prints (as JSON) the
// process's RSS, virtual size and open descriptors after a full GC at each sample point.
//   node --expose-gc many-programs.mjs '{"wasm":"/path/abi.wasm","count":1000,"samples":[100,1000],"preopen":"/tmp/x"}'
import { readFileSync, readdirSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startWasiMain } from 'wasi-threads-wrapper';

const { wasm, count, samples, preopen } = JSON.parse(process.argv[2]);
const entryFile = fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'));

async function measure() {
  // Twice, with a turn of the event loop between: finalizers of the first pass free more.
  for (let i = 0; i < 2; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss: kb('VmRSS'), virtual: kb('VmSize'), fds: readdirSync('/proc/self/fd').length, heapUsed, external, arrayBuffers };
}

const seen = {};
const codes = new Set();
for (let i = 1; i <= count; i++) {
  const program = await startWasiMain({ entryFile, wasmFile: wasm, poolSize: 0, wasiOptions: { preopens: { '/data': preopen } } });
  codes.add(await program.exited);
  if (samples.includes(i)) seen[i] = await measure();
}
writeSync(1, JSON.stringify({ seen, codes: [...codes] }) + '\n');
