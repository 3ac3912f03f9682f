/**
 * What a new user meets first: misspelled options are refused by name with the closest known key,
 * errors speak in the words the user wrote (option paths, flags as typed), `entryFile` may be left
 * out, and the CLI has a wall-clock `--timeout`.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createRuntime, InvalidOptionError, initWasiMain, startWasiMain } from '../../dist/index.js';
import { fixture, runNode } from '../helpers/run-host.js';
import { useRuntimes } from '../helpers/runtimes.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const runtimeFor = useRuntimes();

/** The error `attempt` rejects (or throws) with. */
async function failure(attempt: () => unknown): Promise<Error> {
  try {
    await attempt();
  } catch (error) {
    return error as Error;
  }
  throw new Error('it did not fail');
}

describe('unknown option keys', () => {
  it('are an InvalidOptionError in every options object, naming the key and the closest known one', async () => {
    const wasmFile = fixture('abi');
    const runtime = await runtimeFor('cat', { poolSize: 1 });
    const reactors = await runtimeFor('reactor', { poolSize: 1 });
    const instance = await reactors.instantiate();
    const cases: [() => unknown, RegExp][] = [
      [() => startWasiMain({ wasmFile, poolsize: 2 } as never), /the config of startWasiMain has no option "poolsize": did you mean "poolSize"\?/],
      [() => initWasiMain({ wasmFile, maxthreads: 2 } as never), /no option "maxthreads": did you mean "maxThreads"\?/],
      [() => startWasiMain({ wasmFile, wasiOptions: { argz: [] } } as never), /wasiOptions has no option "argz": did you mean "args"\?/],
      [() => startWasiMain({ wasmFile, memorySetting: { max: 10 } } as never), /memorySetting has no option "max"/],
      [() => startWasiMain({ wasmFile, workerOptions: { execArgs: [] } } as never), /workerOptions has no option "execArgs": did you mean "execArgv"\?/],
      [() => createRuntime({ wasmFile, timeOutMs: 5 } as never), /the config of createRuntime has no option "timeOutMs": did you mean "timeoutMs"\?/],
      [() => runtime.run({ stdIn: 'x' } as never), /the options of run\(\) has no option "stdIn": did you mean "stdin"\?/],
      [() => reactors.instantiate({ environment: {} } as never), /the options of instantiate\(\) has no option "environment"/],
      [() => instance.callWith({ timeout: 5 } as never, 'add', 1, 2), /the options of callWith\(\) has no option "timeout": did you mean "timeoutMs"\?/],
    ];
    for (const [attempt, message] of cases) {
      const error = await failure(attempt);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.message).toMatch(message);
    }
    // A key far from every known one gets no guess.
    expect((await failure(() => startWasiMain({ wasmFile, zzzzzzzz: 1 } as never))).message).not.toMatch(/did you mean/);
  });
});

describe('entryFile', () => {
  it("defaults to the library's own worker script; the seed's explicit form keeps working", async () => {
    expect(await initWasiMain({ wasmFile: fixture('abi'), poolSize: 1 })).toBe(0);
    const entryFile = fileURLToPath(new URL('../../dist/worker-entry.js', import.meta.url));
    expect(await initWasiMain({ entryFile, wasmFile: fixture('abi'), poolSize: 1 })).toBe(0);
  });
});

describe('the CLI', () => {
  it('ends a program at its --timeout with exit status 124 and a message that says so, every worker ended', async () => {
    const startedAt = performance.now();
    const result = await runNode([cli, 'run', '--timeout', '300ms', fixture('cat')], { stdin: 'hold' });
    expect(result.status).toBe(124);
    expect(result.stderr).toMatch(/did not end within its --timeout of 300ms and was ended/);
    expect(performance.now() - startedAt).toBeLessThan(30_000); // it ended by itself, not at the test's timeout
    const quick = await runNode([cli, 'run', '--timeout', '30', fixture('abi')]);
    expect(quick.status).toBe(0);
  });

  it('says what the user typed: --pool -1 is its own error, --dir names the flag and the path, a bad --timeout shows the forms it takes', async () => {
    const pool = await runNode([cli, 'run', '--pool', '-1', fixture('abi')]);
    expect(pool.status).toBe(2);
    expect(pool.stderr).toMatch(/^wasi-threads-wrapper: --pool needs a whole number, got "-1"/);
    const dir = await runNode([cli, 'run', '--dir', '/no/such/dir', fixture('abi')]);
    expect(dir.status).toBe(2);
    expect(dir.stderr).toMatch(/^wasi-threads-wrapper: --dir "\/no\/such\/dir": /);
    const timeout = await runNode([cli, 'run', '--timeout', 'soon', fixture('abi')]);
    expect(timeout.status).toBe(2);
    expect(timeout.stderr).toMatch(/--timeout needs a duration such as 500ms, 2s/);
  });
});

describe('error messages', () => {
  it("name a run's option as the run's caller wrote it, not as wasiOptions", async () => {
    const runtime = await runtimeFor('cat', { poolSize: 1 });
    const error = await failure(() => runtime.run({ args: ['cat', 'a\0b'] }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.message).toMatch(/^args\[1\] contains a NUL character/);
    expect((await failure(() => runtime.run({ env: { 'A=B': 'x' } }))).message).toMatch(/^env name "A=B"/);
  });
});

describe('the debug trace', () => {
  it('NODE_DEBUG=wasi-threads logs each spawn (warm, cold, refused), thread start and return, trap and the end, to stderr; off, nothing', async () => {
    const example = fileURLToPath(new URL('../../examples/split_sum.wasm', import.meta.url));
    // Three threads one after another on one pool worker: short_threads joins each before the next
    // spawn, and --max-threads 1 makes that spawn wait for the thread to be counted out (at most 20
    // ms). Not split_sum with 3 threads: it spawns them all at once, so its second spawn waited for
    // its first thread's sum, and a refused spawn's share is summed by nobody (it waited for good
    // when, in CI on Node 26, that sum took more than 20 ms).
    const traced = await runNode([cli, 'run', '--pool', '1', '--max-threads', '1', fixture('short_threads'), '3', '1'], {
      env: { NODE_DEBUG: 'wasi-threads' },
    });
    expect(traced.status).toBe(0);
    const lines = traced.stderr.split('\n').filter((l) => l.startsWith('WASI-THREADS '));
    for (const tid of [1, 2, 3]) {
      expect(lines.some((l) => new RegExp(`: spawn: thread ${tid} warm, claimed pool slot 0`).test(l))).toBe(true);
      expect(lines.some((l) => l.endsWith(`: thread ${tid} starts on pool slot 0`))).toBe(true);
      // With --max-threads 1 the next spawn waits for this thread to be counted out, which comes after
      // its line; the last thread may still be on its way back when the program ends (CI saw it missing).
      if (tid < 3) expect(lines.some((l) => l.endsWith(`: thread ${tid} returned; its worker goes back to the pool`))).toBe(true);
    }
    // The end is logged once, after every thread started (the last thread's 'returned' may follow it: see above).
    const ends = lines.filter((l) => /^WASI-THREADS \d+ \d+\.\d{3} \[worker 0\]: program \S+ ends: exit code 0$/.test(l));
    expect(ends).toHaveLength(1);
    expect(lines.indexOf(ends[0]!)).toBeGreaterThan(
      Math.max(...[1, 2, 3].map((tid) => lines.findIndex((l) => l.endsWith(`: thread ${tid} starts on pool slot 0`)))),
    );
    const cold = await runNode([cli, 'run', '--pool', '0', example, '2'], { env: { NODE_DEBUG: 'wasi-threads' } });
    expect(cold.stderr).toMatch(/: spawn: thread 1 cold, a new worker/);
    const refused = await runNode([cli, 'run', '--max-threads', '4', '--pool', '2', fixture('limit'), '32'], { env: { NODE_DEBUG: 'wasi-threads' } });
    expect(refused.stderr).toMatch(/\]: spawn refused: EAGAIN \(maxThreads threads alive/);
    const trap = await runNode([cli, 'run', fixture('abnormal_end'), 'trap'], { env: { NODE_DEBUG: 'wasi-threads' } });
    expect(trap.stderr).toMatch(/\]: thread \d+ trapped: RuntimeError: unreachable\n/);
    const quiet = await runNode([cli, 'run', example]);
    expect(quiet.stderr).toBe('');
  });
});
