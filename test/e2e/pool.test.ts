// The warm pool's shape over time: start-up that does not wait for it, growth on demand instead of
// cold spawns, no churn in spawn+join loops, and trimming of a surplus that stays idle.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startWasiMain } from '../../src/index.js';
import { fixture, runProgram } from '../helpers/run-host.js';

const slowPoolWorker = fileURLToPath(new URL('../helpers/slow-pool-worker.mjs', import.meta.url));
const libraryWorker = fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('warm pool', () => {
  it('starts the wasm main thread without waiting for its pool', async () => {
    // Pool workers that take 60 s to come up: a program that spawns nothing ends long before.
    process.env.POOL_DELAY_MS = '60000';
    try {
      const started = performance.now();
      const program = await startWasiMain({
        entryFile: slowPoolWorker,
        wasmFile: fixture('spawnbench'),
        wasiOptions: { args: ['spawnbench', 'startup'] },
        poolSize: 8,
      });
      expect(await program.exited).toBe(0);
      expect(performance.now() - started).toBeLessThan(30_000);
      expect(program.liveWorkers).toBe(0);
    } finally {
      delete process.env.POOL_DELAY_MS;
    }
  });

  it('lets a spawn made before the pool is up wait for a pool worker rather than start another', async () => {
    process.env.POOL_DELAY_MS = '1500';
    try {
      const program = await startWasiMain({ entryFile: slowPoolWorker, wasmFile: fixture('abi'), poolSize: 2 });
      expect(await program.exited).toBe(0);
      expect(program.stats()).toMatchObject({ warmSpawns: 1, coldSpawns: 0 });
      // No worker beyond the pool's (the second pool worker may not even have started: while the
      // thread held the CPUs, nothing waited for it).
      expect(program.stats().workersCreated).toBeLessThanOrEqual(1 + 2);
    } finally {
      delete process.env.POOL_DELAY_MS;
    }
  });

  for (const poolSize of [1, 4, 16]) {
    it(`keeps the same workers through 2,000 spawn+join rounds with poolSize ${poolSize}: none cold, none retired and replaced`, async () => {
      const run = await runProgram({ fixture: 'short_threads', args: ['2000', '1'], poolSize });
      expect(run.stdout).toBe('threads=2000 sum=1999000 expected=1999000\n');
      expect(run.stats).toMatchObject({ warmSpawns: 2000, coldSpawns: 0 });
      // The main thread's worker and the pool; one more if a returning worker was descheduled
      // long enough for a spawn to ask for a new one (a loaded machine).
      expect(run.stats!.workersCreated).toBeLessThanOrEqual(poolSize + 3);
    });
  }

  it('grows the pool to the batch and keeps it: 2,000 threads 8 at a time with poolSize 1 start about 8 workers, not one per batch', async () => {
    const run = await runProgram({ fixture: 'short_threads', args: ['2000', '8'], poolSize: 1 });
    expect(run.stdout).toBe('threads=2000 sum=1999000 expected=1999000\n');
    expect(run.stats!.coldSpawns).toBe(0);
    expect(run.stats!.workersCreated).toBeLessThanOrEqual(1 + 8 + 4);
  });

  it('grows the pool when long threads hold it, with pool workers, not cold spawns', async () => {
    // Six threads that all stay alive until the last one is spawned: the pool of two runs dry at once.
    const run = await runProgram({ fixture: 'staggered', args: ['1', '6', '0'], poolSize: 2 });
    expect(run.stdout).toBe('wave 1 spawned\nwaves=1 threads=6\n');
    expect(run.stats).toMatchObject({ warmSpawns: 6, coldSpawns: 0, failedSpawns: 0, peakLiveThreads: 6 });
    // The main thread's, one for each thread, and at most the two of a background refill.
    expect(run.stats!.workersCreated).toBeGreaterThanOrEqual(1 + 6);
    expect(run.stats!.workersCreated).toBeLessThanOrEqual(1 + 6 + 2);
  });

  it('trims idle workers beyond poolSize once no spawn came for a second', async () => {
    // 8 threads alive at once (each waits at a gate that opens once the last is spawned), joined,
    // then 4 s without a spawn. (It counted primes on 8 threads before: under load in CI the first
    // threads could finish before the last were spawned, and lend them their workers.)
    const program = await startWasiMain({
      entryFile: libraryWorker,
      wasmFile: fixture('staggered'),
      wasiOptions: { args: ['staggered', '1', '8', '0', '4000'] },
      poolSize: 2,
    });
    while (program.stats().warmSpawns + program.stats().coldSpawns < 8) await sleep(10);
    await sleep(200);
    const afterBurst = program.liveWorkers;
    // The 8 threads needed a worker each, since they were all alive at once.
    expect(afterBurst).toBeGreaterThanOrEqual(1 + 8);
    const deadline = performance.now() + 3500;
    while (program.liveWorkers > 1 + 2 && performance.now() < deadline) await sleep(50);
    expect(program.liveWorkers).toBe(1 + 2);
    expect(await program.exited).toBe(0);
    expect(program.liveWorkers).toBe(0);
  });

  it('spends no CPU spinning while its pool has nothing to do', async () => {
    const run = await runProgram({ fixture: 'spawnbench', args: ['idle', '1500'], poolSize: 8 });
    expect(run.exitCode).toBe(0);
    // A new worker parks without spinning; only the hand-over of a thread teaches it to spin.
    expect(run.stats!.spinMs).toBe(0);
  });
});
