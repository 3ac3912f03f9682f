// Atomics ping-pong between two workers. The `timer` worker times each round trip with tinybench
// (notify the echo, wait for its answer); the `echo` worker answers every wake at once.
import { parentPort, workerData } from 'node:worker_threads';
import { Bench } from 'tinybench';

const { role, flags, iterations } = workerData;
const ECHO = 0;
const TIMER = 1;

function wake(index) {
  Atomics.store(flags, index, 1);
  Atomics.notify(flags, index);
}

function waitFor(index) {
  while (Atomics.load(flags, index) === 0) Atomics.wait(flags, index, 0);
  Atomics.store(flags, index, 0);
}

if (role === 'echo') {
  for (;;) {
    waitFor(ECHO);
    wake(TIMER);
  }
} else {
  const bench = new Bench({ iterations, time: 0, warmupIterations: 100 });
  bench.add('Atomics round trip', () => {
    wake(ECHO);
    waitFor(TIMER);
  });
  await bench.run();
  const { latency } = bench.tasks[0].result;
  parentPort.postMessage({ medianMs: latency.p50, p99Ms: latency.p99, samples: latency.samplesCount });
}
