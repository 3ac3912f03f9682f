// A standalone repro of V8's stale per-thread memory size (no library): TRIALS times, a worker runs
// stale-fill.wat's `thread` while the main thread grows the shared memory ROUNDS times; prints how
// many trials trapped. Every fill is inside the memory: a correct engine never traps here.
//   node repro.mjs [TRIALS=20] [ROUNDS=20]        (needs the npm package wabt: npm i wabt)
//   node --no-liftoff repro.mjs                   (TurboFan only)
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

if (isMainThread) {
  const wabt = await (await import('wabt')).default();
  const text = readFileSync(new URL('./stale-fill.wat', import.meta.url), 'utf8');
  const module = new WebAssembly.Module(wabt.parseWat('stale-fill.wat', text, { threads: true, bulk_memory: true }).toBinary({}).buffer);
  const [trials, rounds] = [Number(process.argv[2] ?? 20), Number(process.argv[3] ?? 20)];
  let trapped = 0;
  let message = '';
  for (let trial = 0; trial < trials; trial++) {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const view = new Int32Array(memory.buffer); // [0] published, [1] ready, [2] done
    const worker = new Worker(new URL(import.meta.url), { workerData: { module, memory, rounds } });
    const ended = new Promise((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (error) => resolve(`worker failed: ${error}`));
    });
    const { exports } = new WebAssembly.Instance(module, { env: { memory } });
    let outcome;
    ended.then((m) => (outcome = m));
    for (let r = 1; r <= rounds && outcome === undefined; r++) {
      while (Atomics.load(view, 1) < r && outcome === undefined) await Promise.race([Atomics.waitAsync(view, 1, r - 1, 100).value, ended]);
      if (outcome !== undefined) break;
      exports.grow_and_publish(r);
      while (Atomics.load(view, 2) < r && outcome === undefined) await Promise.race([Atomics.waitAsync(view, 2, r - 1, 100).value, ended]);
    }
    outcome = await ended;
    if (outcome !== 'ok') {
      trapped++;
      message = outcome;
    }
    await worker.terminate();
  }
  console.log(
    `${process.version} (V8 ${process.versions.v8})${process.execArgv.length ? ` ${process.execArgv.join(' ')}` : ''}: ${trapped} of ${trials} trials trapped${message ? ` (${message})` : ''}`,
  );
} else {
  const { module, memory, rounds } = workerData;
  const { exports } = new WebAssembly.Instance(module, { env: { memory } });
  try {
    exports.thread(rounds);
    parentPort.postMessage('ok');
  } catch (error) {
    parentPort.postMessage(String(error));
  }
}
