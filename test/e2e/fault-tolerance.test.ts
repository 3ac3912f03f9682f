// What real programs do to a runtime. Each case runs in its own `node` process, which must end by
// itself (no worker left alive) with the right status; the host reports how the program ended.
import { describe, expect, it } from 'vitest';
import { runProgram } from '../helpers/run-host.js';

describe('fault tolerance', () => {
  it('a trap in a spawned thread ends threads blocked in memory.atomic.wait32 and spinning ones', async () => {
    const run = await runProgram({ fixture: 'abnormal_end', args: ['trap'], poolSize: 4 }, { timeoutMs: 15_000 });
    expect(run.error).toMatchObject({ name: 'ThreadTrapError', threadId: 4 });
    expect(run.status).toBe(70);
    expect(run.liveWorkers).toBe(0);
  });

  it('proc_exit from a spawned thread while the main thread is blocked in a join', async () => {
    const run = await runProgram({ fixture: 'abnormal_end', args: ['exit'], poolSize: 0 }, { timeoutMs: 15_000 });
    expect(run.exitCode).toBe(42);
    expect(run.status).toBe(42);
    expect(run.liveWorkers).toBe(0);
  });

  it('a worker that dies outside wasm ends the program with an error naming the thread', async () => {
    const run = await runProgram({ fixture: 'host_import' }, { workerConfig: { main: { hostValue: 1 }, thread: { exitWorkerInImport: 7 } } });
    expect(run.error).toMatchObject({ name: 'WorkerFailedError', code: 'ERR_WASI_THREADS_WORKER' });
    expect(run.error!.message).toMatch(/^the worker of wasm thread 1 of "wasm_\w+" exited \(code 7\) while the program was running$/);
    expect(run.liveWorkers).toBe(0);
  });

  it('a burst of spawns from several threads at once exhausts the pool, which grows, and still finishes', async () => {
    // A binary tree of depth 4: 31 threads, most spawned by threads, with a pool of 2.
    const run = await runProgram({ fixture: 'nested', args: ['4'], poolSize: 2 });
    expect(run.stdout, `stderr: ${run.stderr}\nstats: ${JSON.stringify(run.stats)} error: ${JSON.stringify(run.error)}`).toBe('nodes=31 expected=31\n');
    expect(run.stats!.warmSpawns + run.stats!.coldSpawns).toBe(31);
    // The pool of 2 ran dry: spawns asked for more pool workers (or, rarely, went cold).
    expect(run.stats!.workersCreated).toBeGreaterThan(1 + 2);
    expect(run.stats!.failedSpawns).toBe(0);
  });

  it('runs 10,000 short threads in one process on a handful of workers', async () => {
    const run = await runProgram({ fixture: 'short_threads', args: ['10000', '4'], poolSize: 4 });
    expect(run.stdout).toBe('threads=10000 sum=49995000 expected=49995000\n');
    expect(run.stats!.warmSpawns + run.stats!.coldSpawns).toBe(10_000);
    expect(run.stats!.warmSpawns).toBeGreaterThanOrEqual(9_500);
    expect(run.stats!.workersCreated).toBeLessThanOrEqual(40);
    expect(run.liveWorkers).toBe(0);
  });
});
