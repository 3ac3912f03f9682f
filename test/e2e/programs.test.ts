// Real threaded programs, each run in its own `node` process through test/helpers/host.mjs (the
// seed's single-file usage). Every run must end by itself: a leaked worker fails it as a hang.

import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture, runHost, runProgram } from '../helpers/run-host.js';

describe('threaded programs', () => {
  it('counts with a mutex over 4 threads, every spawn warm when the pool is large enough', async () => {
    const run = await runProgram({ fixture: 'counter', args: ['4', '10000'], poolSize: 4 });
    expect(run.stdout).toBe('counter=40000 expected=40000\n');
    expect(run.exitCode).toBe(0);
    expect(run.status).toBe(0);
    expect(run.stats).toMatchObject({ warmSpawns: 4, coldSpawns: 0, failedSpawns: 0, liveThreads: 0 });
    expect(run.liveWorkers).toBe(0);
  });

  it('spawns every thread cold with poolSize 0', async () => {
    const run = await runProgram({ fixture: 'counter', args: ['3', '1000'], poolSize: 0 });
    expect(run.stdout).toBe('counter=3000 expected=3000\n');
    expect(run.stats).toMatchObject({ warmSpawns: 0, coldSpawns: 3, workersCreated: 4 });
  });

  it('reuses pooled workers for many short threads instead of starting one per thread', async () => {
    const run = await runProgram({ fixture: 'short_threads', args: ['300', '2'], poolSize: 2 });
    expect(run.stdout).toBe('threads=300 sum=44850 expected=44850\n');
    const { warmSpawns, coldSpawns, workersCreated } = run.stats!;
    expect(warmSpawns + coldSpawns).toBe(300);
    // Scheduling on a loaded machine can still delay a worker's return past the spawn's grace period.
    expect(warmSpawns).toBeGreaterThanOrEqual(285);
    // Each cold spawn starts a worker; besides those, only the main thread's, the initial pool of 2
    // and a few background refills: workers are reused, not started per thread (that would be 301).
    expect(workersCreated - coldSpawns).toBeLessThanOrEqual(8);
  });

  it('refills the pool in the background when long-running threads hold its workers', async () => {
    const run = await runProgram({ fixture: 'staggered', args: ['3', '2', '1000'], poolSize: 2 });
    expect(run.stdout).toBe('wave 1 spawned\nwave 2 spawned\nwave 3 spawned\nwaves=3 threads=6\n');
    // Each wave takes the whole pool; the refill in the second between waves keeps the next wave
    // warm (a second leaves room for a loaded machine to start the new workers).
    expect(run.stats).toMatchObject({ warmSpawns: 6, coldSpawns: 0, peakLiveThreads: 6 });
    // main + pool + two refills; a slow machine may also refill after the last wave.
    expect(run.stats!.workersCreated).toBeGreaterThanOrEqual(1 + 2 + 4);
    expect(run.stats!.workersCreated).toBeLessThanOrEqual(1 + 2 + 6);
  });

  it('lets threads spawn threads', async () => {
    const warm = await runProgram({ fixture: 'nested', args: ['3'], poolSize: 16 });
    expect(warm.stdout).toBe('nodes=15 expected=15\n');
    expect(warm.stats).toMatchObject({ warmSpawns: 15, coldSpawns: 0 });
    const small = await runProgram({ fixture: 'nested', args: ['3'], poolSize: 1 });
    expect(small.stdout).toBe('nodes=15 expected=15\n');
    expect(small.stats!.warmSpawns + small.stats!.coldSpawns).toBe(15);
  });

  it('runs a CPU-bound computation over 2 threads', async () => {
    const run = await runProgram({ fixture: 'primes', args: ['2', '200000'] });
    expect(run.stdout).toBe('primes below 200000: 17984\n');
    expect(run.exitCode).toBe(0);
  });

  it('shares memory grown by one thread with threads that run meanwhile', async () => {
    const run = await runProgram({ fixture: 'grow', args: ['64'] });
    const match = /^grew 64 pages in a thread from (\d+); marks read back by readers 1024 and 1024, by main 1024, of 1024\nmain sees (\d+) pages\n$/.exec(
      run.stdout,
    );
    expect(match, run.stdout).not.toBeNull();
    // memory.size in the main thread catches up once it has run a little (see the README).
    expect(Number(match![2])).toBe(Number(match![1]) + 64);
  });

  it('returns -EAGAIN past maxThreads so the program sees the failure and carries on', async () => {
    const run = await runProgram({ fixture: 'limit', args: ['32'], maxThreads: 4, poolSize: 2 });
    expect(run.stdout).toBe('spawn 5 failed: SpawnFailed\nspawned=4 joined=4\n');
    expect(run.exitCode).toBe(0);
    expect(run.stats).toMatchObject({ failedSpawns: 1, peakLiveThreads: 4 });
  });

  it.each([
    [2, 2],
    [1, 1],
  ])('refuses no spawn below the limit: 2,000 threads %i at a time with maxThreads %i', async (batch, maxThreads) => {
    // A joined thread is counted until its worker is back: counted out any later, the next spawn
    // fails (after 300-900 spawns at maxThreads 2, on the second at maxThreads 1).
    const run = await runProgram({ fixture: 'short_threads', args: ['2000', String(batch)], maxThreads, poolSize: 1 });
    expect(run.stdout).toBe('threads=2000 sum=1999000 expected=1999000\n');
    expect(run.stats).toMatchObject({ failedSpawns: 0, peakLiveThreads: batch });
  });

  it('passes tid and start_arg exactly as the ABI says', async () => {
    const run = await runProgram({ fixture: 'abi' });
    expect(run.exitCode).toBe(0); // 1: tid mismatch, 2: start_arg mismatch, 3: tid out of range
  });

  it.each(['shared', 'node'] as const)('writes to stdout from spawned threads with the %s WASI', async (wasiImplementation) => {
    const run = await runProgram({ fixture: 'echo_args', args: ['a', 'b'], wasiImplementation });
    expect(run.stdout).toBe('main: echo_args a b\nthread: echo_args a b\n');
    expect(run.stderr).toBe('');
  });

  it('prints no ExperimentalWarning from node:wasi in its workers', async () => {
    // The warning is emitted on a later tick: a main thread that returns to its event loop while
    // a thread still runs (destroyWhenEnd false) lets it out unless the library silences it.
    const run = await runProgram(
      { fixture: 'detached', initMethod: 'main2', wasiImplementation: 'node' },
      { workerConfig: { main: { destroyWhenEnd: false } } },
    );
    expect(run.stdout).toBe('thread outlived main\n');
    expect(run.stderr).toBe('');
  });
});

/** Node 20 (V8 11.3) is the one supported line whose Liftoff tier has the atomic-wait bug. */
const liftoffBugExpected = process.versions.v8.startsWith('11.');
const distDir = fileURLToPath(new URL('../../dist/', import.meta.url));

describe(`the Liftoff atomic-wait bug (expected on this Node: ${liftoffBugExpected})`, () => {
  it('runs code around memory.atomic.wait32 correctly on this Node line', async () => {
    const run = await runProgram({ fixture: 'liftoff_wait' });
    expect(run.exitCode).toBe(0); // 1: the local was clobbered by the wait
  });

  it('(control) the fixture shows the bug in a process that does not load the library exactly where the bug exists', () => {
    const script = `
      const bytes = require('node:fs').readFileSync(${JSON.stringify(fixture('liftoff_wait'))});
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      const imports = { env: { memory }, wasi: { 'thread-spawn': () => -1 }, wasi_snapshot_preview1: { proc_exit() {} } };
      const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
      process.stdout.write(String(exports.read_after_wait(64)));`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })).toBe(liftoffBugExpected ? '0' : '64');
  });

  it('the probe finds the bug exactly where it exists, and V8 flags are touched only there', () => {
    // setFlagsFromString is wrapped before the library loads, to see whether it is called at all.
    const script = `
      const v8 = require('node:v8');
      const calls = [];
      const original = v8.setFlagsFromString;
      v8.setFlagsFromString = (flags) => (calls.push(flags), original(flags));
      require('node:module').syncBuiltinESMExports();
      import(${JSON.stringify(pathToFileURL(`${distDir}host/liftoff-workaround.js`).href)}).then((m) =>
        process.stdout.write(JSON.stringify({ disabled: m.liftoffDisabled, calls })));`;
    const seen = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    expect(seen).toEqual({ disabled: liftoffBugExpected, calls: liftoffBugExpected ? ['--no-liftoff'] : [] });
  });
});

describe('wasi-libc programs', () => {
  it("instantiates the main thread's instance first, so wasm-ld's start function gives it the main TLS (8 programs, pool 4)", async () => {
    // Where a pool worker's instance runs the start function first, most programs exit 1 (8 of 10
    // runs with pool 8).
    const run = await runHost(Array.from({ length: 8 }, () => ({ fixture: 'start_order', poolSize: 4 })));
    expect(run.results.map((r) => r.exitCode)).toEqual(Array(8).fill(0));
  });
});

describe('output', () => {
  it('keeps stdout blocking: a slow reader loses nothing written by two threads at once', async () => {
    const run = await runProgram({ fixture: 'flood', args: ['5000'] }, { readerPauseMs: 500 });
    expect(run.stderr).toBe('write failures: 0\n');
    const lines = run.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(10_000);
    expect(lines.every((line) => line.length === 99)).toBe(true);
    expect(lines.filter((line) => line.startsWith('thread 1 line '))).toHaveLength(5000);
  });
});

describe('ending the program', () => {
  it('ends every worker and resolves with the code when a spawned thread calls proc_exit(42)', async () => {
    const run = await runProgram({ fixture: 'abnormal_end', args: ['exit'], poolSize: 4 });
    expect(run.stdout).toBe('thread exiting with 42\n');
    expect(run.exitCode).toBe(42);
    expect(run.status).toBe(42);
    expect(run.liveWorkers).toBe(0);
  });

  it('ends every worker and rejects naming the thread when a spawned thread traps', async () => {
    const run = await runProgram({ fixture: 'abnormal_end', args: ['trap'], poolSize: 4 });
    expect(run.stdout).toBe('thread about to trap\n');
    expect(run.error).toMatchObject({ name: 'ThreadTrapError', code: 'ERR_WASI_THREADS_TRAP', threadId: 4 });
    expect(run.error!.message).toMatch(/^wasm thread 4 trapped: RuntimeError: unreachable/);
    expect(run.liveWorkers).toBe(0);
  });

  it('reports a trap in the main thread as thread 0', async () => {
    const run = await runProgram({ fixture: 'init_method' });
    expect(run.error).toMatchObject({ name: 'ThreadTrapError', threadId: 0 });
    expect(run.error!.message).toMatch(/^the wasm main thread trapped: RuntimeError: unreachable/);
  });

  it('ends the threads when the main entry returns (destroyWhenEnd, the default)', async () => {
    const run = await runProgram({ fixture: 'detached', initMethod: 'main2' });
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toBe('');
  });

  it('lets threads finish after the main entry returns with destroyWhenEnd: false', async () => {
    const run = await runProgram({ fixture: 'detached', initMethod: 'main2' }, { workerConfig: { main: { destroyWhenEnd: false } } });
    expect(run.stdout).toBe('thread outlived main\n');
    expect(run.exitCode).toBe(3);
    expect(run.liveWorkers).toBe(0);
  });
});

describe('seed options', () => {
  it('calls initMethod instead of _start and uses its return value as the exit code', async () => {
    const run = await runProgram({ fixture: 'init_method', initMethod: 'main2' });
    expect(run.stdout).toBe('thread ran\n');
    expect(run.exitCode).toBe(5);
  });

  it('merges wasmImports from the config function, per role', async () => {
    const run = await runProgram({ fixture: 'host_import' }, { workerConfig: { main: { hostValue: 3 }, thread: { hostValue: 4 } } });
    expect(run.exitCode).toBe(43);
  });

  it('uses a custom wasi object when the config function gives one', async () => {
    const run = await runProgram(
      { fixture: 'echo_args', args: ['a'], namespace: 'custom-ns' },
      { workerConfig: { main: { customWasiArgs: ['custom', 'x'] } } },
    );
    expect(run.stdout).toBe('main: custom x ns=custom-ns\nthread: echo_args a\n');
  });

  it('runs nothing with noWasiStart', async () => {
    const run = await runProgram({ fixture: 'single_thread' }, { workerConfig: { main: { noWasiStart: true } } });
    expect(run.stdout).toBe('');
    expect(run.exitCode).toBe(0);
  });

  it('runs a program without thread-spawn single-threaded, with no pool', async () => {
    const run = await runProgram({ fixture: 'single_thread' });
    expect(run.stdout).toBe('single-threaded hello\n');
    expect(run.stats).toMatchObject({ workersCreated: 1 });
  });

  it('fits the default memory to tight declared limits and a custom import name', async () => {
    const run = await runProgram({ fixture: 'tight_memory' });
    expect(run.exitCode).toBe(0);
  });

  it('runs two programs at once in one process, isolated by namespace', async () => {
    const run = await runHost([
      { fixture: 'counter', args: ['2', '5000'], namespace: 'first' },
      { fixture: 'primes', args: ['2', '100000'], namespace: 'second' },
    ]);
    expect(run.stdout.split('\n').sort()).toEqual(['', 'counter=10000 expected=10000', 'primes below 100000: 9592']);
    expect(run.results.map((r) => [r.namespace, r.exitCode])).toEqual([
      ['first', 0],
      ['second', 0],
    ]);
  });

  it('refuses a second program under a namespace that is running', async () => {
    const run = await runHost([
      { fixture: 'counter', args: ['2', '5000'], namespace: 'same' },
      { fixture: 'counter', args: ['2', '5000'], namespace: 'same' },
    ]);
    const errors = run.results.filter((r) => r.error);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toMatchObject({ name: 'InvalidOptionError' });
    expect(errors[0]!.error!.message).toMatch(/namespace "same" is already running/);
  });
});
