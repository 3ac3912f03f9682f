/**
 * The floors a spawn is compared with: the raw cost of waking a parked worker (Atomics ping-pong
 * between two workers, halved) and of starting a new one (`new Worker()` to its first message).
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';

export interface LatencyStats {
  medianMs: number;
  p99Ms: number;
  samples: number;
}

function latencyOf(bench: Bench): LatencyStats {
  const { latency } = bench.tasks[0]!.result as unknown as { latency: { p50: number; p99: number; samplesCount: number } };
  return { medianMs: latency.p50, p99Ms: latency.p99, samples: latency.samplesCount };
}

/** One-way wake latency: tinybench times round trips inside a worker; each is two wakes. */
export async function atomicsWakeFloor(iterations: number): Promise<LatencyStats> {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const script = new URL('./floor-worker.mjs', import.meta.url);
  const echo = new Worker(script, { workerData: { role: 'echo', flags } });
  const timer = new Worker(script, { workerData: { role: 'timer', flags, iterations } });
  const [roundTrip] = (await once(timer, 'message')) as [LatencyStats];
  await Promise.all([echo.terminate(), timer.terminate()]);
  return { medianMs: roundTrip.medianMs / 2, p99Ms: roundTrip.p99Ms / 2, samples: roundTrip.samples };
}

/** `new Worker()` until its first message arrives; termination is outside the timed part. */
export async function workerStartFloor(iterations: number): Promise<LatencyStats> {
  const bench = new Bench({ iterations, time: 0, warmupIterations: 2 });
  let worker: Worker | undefined;
  bench.add(
    'new Worker() to first message',
    async () => {
      const started = bench.now();
      worker = new Worker("require('node:worker_threads').parentPort.postMessage(0)", { eval: true });
      await once(worker, 'message');
      return { overriddenDuration: bench.now() - started };
    },
    { afterEach: async () => void (await worker?.terminate()) },
  );
  await bench.run();
  return latencyOf(bench);
}

export { latencyOf };
