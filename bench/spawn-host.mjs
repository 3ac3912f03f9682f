// One placed measurement in a process of its own: the wake floor between two workers, then a
// spawnbench program, both with the same placement and clock. Prints JSON lines:
// {"mode":"floor",...}, the program's own line, then {"mode":"stats",...}.
//   node spawn-host.mjs '{"placement":"same"|"other"|null,"poolSize":4,"args":["latency","2000"],"floorSamples":2000}'
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { startWasiMain } from '../dist/index.js';
import { cpuFor } from './pin.mjs';

const { placement = null, poolSize = 4, maxThreads = 64, args, floorSamples = 0, idleCpuMs = 0 } = JSON.parse(process.argv[2]);
const print = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

// The workers pin themselves. The main JS thread (the coordinator, idle here) is left alone: pinned,
// it would also narrow os.availableParallelism(), which the pool reads to decide whether spinning can help.
if (placement) process.env.WTW_PLACEMENT = placement;

/**
 * One-way wake latency: the waker reads the clock, stores it and notifies; the woken worker, parked
 * in Atomics.wait, reads the clock as soon as it runs. The same clock (process.hrtime) that the
 * program's WASI clock_time_get reads, and the same statistic.
 */
async function wakeFloor(samples) {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.pin).then(({ pinThisThread }) => {
      if (workerData.cpu !== null) pinThisThread(workerData.cpu);
      const flags = new Int32Array(workerData.flags);
      const stamps = new BigInt64Array(workerData.stamps);
      const n = workerData.samples;
      if (workerData.role === 'woken') {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          while (Atomics.load(flags, 0) === 0) Atomics.wait(flags, 0, 0);
          out[i] = Number(process.hrtime.bigint() - stamps[0]);
          Atomics.store(flags, 0, 0);
          Atomics.store(flags, 1, 1);
          Atomics.notify(flags, 1);
        }
        parentPort.postMessage(out);
      } else {
        for (let i = 0; i < n; i++) {
          // Let the woken worker settle into Atomics.wait, as a parked pool worker is.
          const until = process.hrtime.bigint() + 50_000n;
          while (process.hrtime.bigint() < until);
          stamps[0] = process.hrtime.bigint();
          Atomics.store(flags, 0, 1);
          Atomics.notify(flags, 0);
          while (Atomics.load(flags, 1) === 0) Atomics.wait(flags, 1, 0);
          Atomics.store(flags, 1, 0);
        }
        parentPort.postMessage(null);
      }
    });`;
  const flags = new SharedArrayBuffer(8);
  const stamps = new SharedArrayBuffer(8);
  const pin = new URL('./pin.mjs', import.meta.url).href;
  const start = (role, cpu) => new Worker(source, { eval: true, workerData: { role, cpu, flags, stamps, samples, pin } });
  const woken = start('woken', placement ? cpuFor(placement, 'thread') : null);
  const waker = start('waker', placement ? cpuFor(placement, 'spawner') : null);
  const [out] = await Promise.all([new Promise((resolve) => woken.once('message', resolve)), new Promise((resolve) => waker.once('message', resolve))]);
  await Promise.all([woken.terminate(), waker.terminate()]);
  const sorted = [...out].sort((a, b) => a - b);
  const at = (q) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]);
  return { mode: 'floor', n: samples, median_ns: at(0.5), p10_ns: at(0.1), p25_ns: at(0.25), p75_ns: at(0.75), p90_ns: at(0.9), p99_ns: at(0.99) };
}

if (floorSamples > 0) print(await wakeFloor(floorSamples));
const entryFile = fileURLToPath(new URL('./pinned-worker.mjs', import.meta.url));
const wasmFile = fileURLToPath(new URL('../fixtures/build/spawnbench.wasm', import.meta.url));
const startedNs = process.hrtime.bigint();
const program = await startWasiMain({ entryFile, wasmFile, poolSize, maxThreads, wasiOptions: { args: ['spawnbench', ...args] } });
let idleCpu;
if (idleCpuMs > 0) {
  // The program sleeps; its pool is parked. CPU of the whole process over idleCpuMs, once the pool
  // is up (it boots in the background, cores - 1 workers at a time): 3 s later.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, idleCpuMs));
  const used = process.cpuUsage(before);
  idleCpu = (used.user + used.system) / 1000;
}
const exitCode = await program.exited;
print({ mode: 'stats', exitCode, startedNs: String(startedNs), idleCpuMs: idleCpu, ...program.stats() });
