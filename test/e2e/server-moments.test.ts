/**
 * Server mode at every moment of a run's life: a limit or a stream error that lands in a gap
 * between two stages (queued, admitted, waiting for the last run's workers, started) still ends
 * the run; options a timer cannot honour are refused; handles and streams never outlive their run.
 */
import { readdirSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type RunStage, stageHook } from '../../dist/host/runtime/run-limits.js';
import {
  createRuntime,
  InvalidOptionError,
  ProgramExitedError,
  RunAbortedError,
  RunOutputError,
  RunOutputLimitError,
  RunTimeoutError,
} from '../../dist/index.js';
import { fixture } from '../helpers/run-host.js';
import { useRuntimes } from '../helpers/runtimes.js';

const runtimeFor = useRuntimes();

/** What `promise` settles with, or 'hung' when it has not settled within `ms`. */
async function within(promise: Promise<unknown>, ms = 5000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => error,
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A stdin that never gives a byte nor ends: `cat` on it runs until it is ended. */
const silent = () => new PassThrough();

describe('limits are armed from the call on', () => {
  it('an abort in the same tick as run() ends a run that would never end (8 of 8)', async () => {
    const runtime = await runtimeFor('cat', { poolSize: 1 });
    for (let i = 0; i < 8; i++) {
      const controller = new AbortController();
      const run = runtime.run({ stdin: silent(), signal: controller.signal });
      controller.abort();
      expect(await within(run)).toBeInstanceOf(RunAbortedError);
    }
  });

  it("an abort on the next setImmediate after a previous run, while the run waits for the last run's workers, ends it (8 of 8)", async () => {
    // No prepared run: the next run waits for the last run's workers to come back, and prepares itself.
    const runtime = await runtimeFor('cat', { poolSize: 2, preparedRuns: 0 });
    for (let i = 0; i < 8; i++) {
      expect((await runtime.run({ stdin: 'x', stdout: 'buffer' })).exitCode).toBe(0);
      const controller = new AbortController();
      const run = runtime.run({ stdin: silent(), signal: controller.signal });
      setImmediate(() => controller.abort());
      expect(await within(run)).toBeInstanceOf(RunAbortedError);
    }
  });

  it('an abort or a timeout while the run is queued ends it there, and the run ahead of it is untouched', async () => {
    const runtime = await runtimeFor('cat', { poolSize: 1, maxConcurrentRuns: 1 });
    const first = new AbortController();
    const ahead = runtime.run({ stdin: silent(), signal: first.signal });
    const controller = new AbortController();
    const queued = runtime.run({ stdin: 'x', signal: controller.signal });
    const timed = runtime.run({ stdin: 'x', timeoutMs: 30 });
    setTimeout(() => controller.abort(), 20);
    expect(await within(queued)).toBeInstanceOf(RunAbortedError);
    expect(await within(timed)).toBeInstanceOf(RunTimeoutError);
    expect(runtime.stats()).toMatchObject({ activeRuns: 1, queuedRuns: 0 });
    first.abort();
    expect(await within(ahead)).toBeInstanceOf(RunAbortedError);
    // Runs that ended in the queue count as ended runs too.
    expect(runtime.stats().runs).toBe(3);
    expect((await runtime.run({ stdin: 'y', stdout: 'buffer' })).stdout.toString()).toBe('y');
  });

  it('instantiate() refuses a signal that is already aborted, and leaves no instance', async () => {
    const runtime = await runtimeFor('reactor', { poolSize: 1 });
    await expect(runtime.instantiate({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(RunAbortedError);
    expect(runtime.stats().liveInstances).toBe(0);
  });

  it('a timeoutMs a timer cannot honour (above 2^31-1 ms, Infinity) is an InvalidOptionError naming the limit, in run(), instantiate() and callWith()', async () => {
    const commands = await runtimeFor('cat', { poolSize: 1 });
    const reactors = await runtimeFor('reactor', { poolSize: 1 });
    const instance = await reactors.instantiate();
    for (const timeoutMs of [2 ** 31, 1e10, Number.POSITIVE_INFINITY]) {
      for (const attempt of [
        () => commands.run({ stdin: 'x', timeoutMs }),
        () => reactors.instantiate({ timeoutMs }),
        () => instance.callWith({ timeoutMs }, 'add', 1, 2),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect((error as Error).message).toMatch(/at most 2147483647 ms/);
      }
    }
    // The longest a timer can wait is taken, and does not fire at once.
    expect((await commands.run({ stdin: 'x', stdout: 'buffer', timeoutMs: 2 ** 31 - 1 })).exitCode).toBe(0);
    expect(await instance.callWith({ timeoutMs: 2 ** 31 - 1 }, 'add', 40, 2)).toBe(42);
  });
});

describe('each stage of a run, with a limit landing exactly there', () => {
  type Limit = 'abort' | 'timeout' | 'stream error';
  // What the run settles with, by the stage the limit lands in: before the program's end it ends
  // the run with the limit's error; once the program has ended, only a failed stream still fails it.
  const outcomes: Record<RunStage, Record<Limit, unknown>> = {
    admitted: { abort: RunAbortedError, timeout: RunTimeoutError, 'stream error': RunOutputError },
    started: { abort: RunAbortedError, timeout: RunTimeoutError, 'stream error': RunOutputError },
    ending: { abort: 'exit 0', timeout: 'exit 0', 'stream error': RunOutputError },
  };
  for (const stage of ['admitted', 'started', 'ending'] as const) {
    for (const limit of ['abort', 'timeout', 'stream error'] as const) {
      it(`${limit} while the run is ${stage}: ${String((outcomes[stage][limit] as { name?: string }).name ?? outcomes[stage][limit])}, and the runtime serves on`, async () => {
        const runtime = await runtimeFor('cat', { poolSize: 1 });
        const controller = new AbortController();
        const stdout = new Writable({ write: (_chunk, _encoding, done) => done() });
        let landed = false;
        // The run waits in the stage while the limit lands (the timeout's timer fires meanwhile).
        stageHook.enter = async (entered) => {
          if (entered !== stage) return;
          landed = true;
          if (limit === 'abort') controller.abort();
          if (limit === 'stream error') stdout.destroy(new Error('the client went away'));
          await new Promise((resolve) => setTimeout(resolve, limit === 'timeout' ? 300 : 20));
        };
        try {
          const run = runtime.run({
            // Until the stage 'ending' the program must not end by itself: it reads a stdin that never ends.
            stdin: stage === 'ending' ? 'x' : silent(),
            stdout,
            signal: controller.signal,
            timeoutMs: limit === 'timeout' ? 150 : undefined,
          });
          const settled = await within(run);
          expect(landed).toBe(true);
          const wanted = outcomes[stage][limit];
          if (wanted === 'exit 0') expect(settled).toMatchObject({ value: { exitCode: 0 } });
          else expect(settled).toBeInstanceOf(wanted as new () => Error);
        } finally {
          stageHook.enter = undefined;
        }
        expect((await runtime.run({ stdin: 'again', stdout: 'buffer' })).stdout.toString()).toBe('again');
      });
    }
  }
});

describe('streams never crash the host', () => {
  it("a stdin Readable's error before the program reads it, while the run waits in the queue, is the program's read error", async () => {
    const runtime = await runtimeFor('cat', { poolSize: 1, maxConcurrentRuns: 1 });
    const first = new AbortController();
    const ahead = runtime.run({ stdin: silent(), signal: first.signal });
    const stdin = new PassThrough();
    const queued = runtime.run({ stdin, stdout: 'buffer', stderr: 'buffer' });
    stdin.destroy(new Error('the client went away'));
    await new Promise((resolve) => setImmediate(resolve));
    first.abort();
    await within(ahead);
    const outcome = (await within(queued)) as { value?: { exitCode: number; stderr: Buffer } };
    // cat's first read fails (EIO): it reports 0 bytes copied and ends.
    expect(outcome.value?.exitCode).toBe(0);
    expect(outcome.value?.stderr.toString()).toMatch(/\b0\b/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stdin.listenerCount('error')).toBe(0);
  });

  it('a stdout Writable that fails while its run waits in the queue ends that run with RunOutputError, and the runtime serves on', async () => {
    const runtime = await runtimeFor('cat', { poolSize: 1, maxConcurrentRuns: 1 });
    const first = new AbortController();
    const ahead = runtime.run({ stdin: silent(), signal: first.signal });
    const stdout = new Writable({ write: (_chunk, _encoding, done) => done() });
    const queued = runtime.run({ stdin: 'x', stdout });
    stdout.destroy(new Error('the response is gone'));
    expect(await within(queued)).toBeInstanceOf(RunOutputError);
    first.abort();
    await within(ahead);
    expect((await runtime.run({ stdin: 'z', stdout: 'buffer' })).stdout.toString()).toBe('z');
    await new Promise((resolve) => setImmediate(resolve));
    expect(stdout.listenerCount('error')).toBe(0);
  });

  it("an instance's stdin that fails before anything reads it does not bring the process down", async () => {
    const runtime = await runtimeFor('reactor', { poolSize: 1 });
    const stdin = new PassThrough();
    const instance = await runtime.instantiate({ stdin });
    stdin.destroy(new Error('gone'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(await instance.call('add', 1, 2)).toBe(3);
    await instance.destroy();
  });

  it('what a run did not read of a stdin chunk goes back to the stream when the run ends', async () => {
    const runtime = await runtimeFor('cat', { poolSize: 1 });
    const stdin = new PassThrough();
    const bytes = Buffer.alloc(100_000, 'abcdefghij');
    stdin.write(bytes);
    // cat reads 7 bytes at a time and writes them out: past 10 bytes of output the run is ended.
    await expect(runtime.run({ stdin, stdout: 'buffer', maxBuffer: 10 })).rejects.toBeInstanceOf(RunOutputLimitError);
    const rest = stdin.read() as Buffer | null;
    expect(rest).not.toBeNull();
    expect(rest!.length).toBeGreaterThan(90_000);
    expect(bytes.subarray(bytes.length - rest!.length).equals(rest!)).toBe(true);
  });
});

describe('no write into a memory after it has left its run', () => {
  it("a pool worker still being made when its run ends writes nothing into the next run's memory: 16 runs that end while their pool boots", async () => {
    // late_boot's pool instances take a while to make (their start function spins, then writes);
    // its _start returns at once, so each run ends while its pool workers are still in their start
    // function. Its next run's main instance, on the memory passed on, spins longer and then looks.
    const runtime = await runtimeFor('late_boot', { poolSize: 2, preparedRuns: 1, maxConcurrentRuns: 1 });
    const codes: number[] = [];
    for (let i = 0; i < 16; i++) codes.push((await runtime.run({ args: ['late_boot'] })).exitCode);
    expect(codes).toEqual(Array(16).fill(0));
    // The memories were passed on (the runs did share them), not all made anew.
    expect(runtime.stats().memoriesCreated).toBeLessThan(16);
  });
});

describe('handles die with their owner', () => {
  it("a destroyed instance's memory is never handed to a later instance or run: writes through a kept handle reach no one", async () => {
    const runtime = await runtimeFor('reactor', { poolSize: 1, preparedRuns: 1 });
    const first = await runtime.instantiate();
    const kept = first.memory!;
    await first.destroy();
    for (let i = 0; i < 6; i++) {
      new Uint8Array(kept.buffer).fill(0x5a, 4096, 8192);
      const later = await runtime.instantiate();
      expect(later.memory).not.toBe(kept);
      expect(new Uint8Array(later.memory!.buffer, 4096, 4096).every((b) => b === 0)).toBe(true);
      expect(await later.call('sum_bytes', 4096, 4096)).toBe(0);
      await later.destroy();
    }
  });
});

describe('a reactor that exits', () => {
  it('a call that runs proc_exit(3) rejects with ProgramExitedError carrying 3, the instance ends, and later calls report the same exit', async () => {
    const runtime = await runtimeFor('reactor', { poolSize: 1 });
    const instance = await runtime.instantiate();
    const error = await instance.call('exit', 3).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProgramExitedError);
    expect(error).toMatchObject({ exitCode: 3, code: 'ERR_WASI_THREADS_EXITED' });
    await expect(instance.call('add', 1, 2)).rejects.toMatchObject({ name: 'ProgramExitedError', exitCode: 3 });
    expect(runtime.stats().liveInstances).toBe(0);
    const other = await runtime.instantiate();
    expect(await other.call('add', 1, 2)).toBe(3);
  });
});

describe('createRuntime never hangs on a module', () => {
  /** Threads of this process (each worker is one): none of a failed createRuntime's may be left. */
  const threadsNow = () => readdirSync('/proc/self/task').length;
  /** Waits (up to 3 s) until the process has no more threads than `before`; returns how many it has. */
  const settledThreads = async (before: number) => {
    for (let i = 0; i < 60 && threadsNow() > before; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    return threadsNow();
  };

  it('a start function that calls thread-spawn ends createRuntime with a ModuleRequirementError that says so, and leaves no worker', async () => {
    const before = threadsNow();
    const error = await within(createRuntime({ wasmFile: fixture('start_spawns'), poolSize: 1 }));
    expect(error).toMatchObject({ name: 'ModuleRequirementError', message: expect.stringMatching(/start function calls wasi.thread-spawn/) });
    expect(await settledThreads(before)).toBeLessThanOrEqual(before);
  });

  it('a start function that traps ends createRuntime with a ThreadTrapError', async () => {
    const error = await within(createRuntime({ wasmFile: fixture('start_traps'), poolSize: 1 }));
    expect(error).toMatchObject({ name: 'ThreadTrapError', message: expect.stringMatching(/unreachable/) });
  });

  it('a start function that never returns ends createRuntime at its timeoutMs, or when its signal aborts, and leaves no worker', async () => {
    const before = threadsNow();
    expect(await within(createRuntime({ wasmFile: fixture('start_loops'), poolSize: 1, timeoutMs: 200 }))).toBeInstanceOf(RunTimeoutError);
    const controller = new AbortController();
    const started = createRuntime({ wasmFile: fixture('start_loops'), poolSize: 1, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect(await within(started)).toBeInstanceOf(RunAbortedError);
    await expect(createRuntime({ wasmFile: fixture('start_loops'), signal: AbortSignal.abort() })).rejects.toBeInstanceOf(RunAbortedError);
    await expect(createRuntime({ wasmFile: fixture('start_loops'), timeoutMs: 1e10 })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(await settledThreads(before)).toBeLessThanOrEqual(before);
  });
});

describe('spawn priority at maxWorkers', () => {
  it("a running program's spawns take the workers of prepared runs before they fail with EAGAIN, run after run", async () => {
    // 6 workers: the running program's main thread and pool of 2, and one prepared run's 3. Each run
    // spawns 4 threads that wait for one another, so it needs 2 workers more than it holds.
    const runtime = await runtimeFor('limit', { poolSize: 2, maxThreads: 4, maxConcurrentRuns: 1, preparedRuns: 1, maxWorkers: 6 });
    for (let i = 0; i < 12; i++) {
      const result = await runtime.run({ args: ['limit', '4'], stdout: 'buffer' });
      expect(result.stdout.toString(), `run ${i}`).toBe('spawned=4 joined=4\n');
      expect(result.stats.failedSpawns, `run ${i}`).toBe(0);
    }
    // The prepared runs that gave their workers back are not runs, and did not break the runtime.
    expect(runtime.stats()).toMatchObject({ runs: 12, activeRuns: 0 });
    expect(runtime.stats().liveWorkers).toBeLessThanOrEqual(6);
  });

  it('with no prepared run to take from, a spawn past maxWorkers still fails at once with EAGAIN', async () => {
    const runtime = await runtimeFor('limit', { poolSize: 2, maxThreads: 4, maxConcurrentRuns: 1, preparedRuns: 0, maxWorkers: 3 });
    const result = await runtime.run({ args: ['limit', '4'], stdout: 'buffer' });
    expect(result.stdout.toString()).toBe('spawn 3 failed: SpawnFailed\nspawned=2 joined=2\n');
  });
});
