// Runs COUNT threaded programs one after another in this one process, and prints (as JSON) the
// process's RSS, virtual size and open descriptors after a full GC at each sample point.
//   node --expose-gc many-programs.mjs '{"wasm":"/path/abi.wasm","count":1000,"samples":[100,1000],"preopen":"/tmp/x"}'
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startWasiMain } from 'wasi-threads-wrapper';
import { measure } from './measure.mjs';

const { wasm, count, samples, preopen } = JSON.parse(process.argv[2]);
const entryFile = fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'));

const seen = {};
const codes = new Set();
for (let i = 1; i <= count; i++) {
  const program = await startWasiMain({ entryFile, wasmFile: wasm, poolSize: 0, wasiOptions: { preopens: { '/data': preopen } } });
  codes.add(await program.exited);
  if (samples.includes(i)) seen[i] = await measure();
}
writeSync(1, `${JSON.stringify({ seen, codes: [...codes] })}\n`);
