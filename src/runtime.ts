/**
 * A long-lived runtime for one module: it owns the workers and outlives the programs it runs, and it
 * keeps the next run prepared ahead of demand (its memory made, its main instance and warm pool
 * instantiated and parked), so that `run()` only hands the run its config and lets it go.
 *
 * Each run is a `Program` of its own (its memory, control block, descriptor table, preopens, args,
 * env and exit code); only workers pass from one run to the next, and only once they are back in
 * their loop holding nothing of the last run (runtime-workers.ts).
 */
import { constants } from 'node:buffer';
import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { ByteCollector } from './byte-collector.js';
import { Program, type ProgramStart, type ProgramStats } from './coordinator.js';
import {
  InvalidOptionError,
  ModuleRequirementError,
  RunAbortedError,
  RunOutputError,
  RunOutputLimitError,
  RunTimeoutError,
  RuntimeClosedError,
  type WasiThreadsError,
} from './errors.js';
import type { LocatedMemory } from './memory-clear.js';
import { freshMemory, type LoadedProgram, loadProgram } from './module-loader.js';
import {
  checkStdioFd,
  checkWasiStrings,
  DEFAULTS,
  LIMITS,
  type MemorySetting,
  type ResolvedConfig,
  resolveConfig,
  type WasiMainConfig,
  type WasmSource,
  type WorkerOptions,
  wholeNumber,
} from './options.js';
import { type RuntimeWorkerStats, RuntimeWorkers } from './runtime-workers.js';
import { LIBRARY_WORKER } from './thread-worker.js';
import { closePreopens, openPreopens, RELAYED } from './wasi/fd-owner.js';
import { BytesStdin, type StdinSource, StreamStdin } from './wasi/stdin-relay.js';
import type { FunctionType } from './wasm-binary.js';
import type { WasmMemory } from './wasm-types.js';

/** The options of `createRuntime`: the module, and what every run of it gets. */
export type RuntimeConfig = RuntimeOptions & WasmSource;

export interface RuntimeOptions {
  /** Idle workers each run keeps instantiated and parked for warm spawns. Default 4 (at most maxThreads). */
  poolSize?: number;
  /** Most threads alive at once in one run (the main thread not counted). Default 64. */
  maxThreads?: number;
  /** Runs at once; more wait in a queue, in order. Instances do not count. Default: the number of CPUs. */
  maxConcurrentRuns?: number;
  /** Runs kept prepared ahead of demand. Default 2. */
  preparedRuns?: number;
  /** Most workers alive at once, runtime-wide; past it a spawn fails with EAGAIN. Default: enough for every run at maxThreads. */
  maxWorkers?: number;
  /**
   * Memory of each run, in 64 KiB pages (each run has its own memory of this size). Default: the
   * initial size the module declares (512 pages for a module given compiled), and a maximum of 4096,
   * within the module's declared limits.
   */
  memorySetting?: MemorySetting;
  /** Only `'shared'`: the runtime needs the library's WASI for per-run stdio and descriptor isolation. */
  wasiImplementation?: 'shared';
  workerOptions?: WorkerOptions;
}

/** Where a run's stdout or stderr goes. */
export type OutputTarget = 'inherit' | 'buffer' | 'ignore' | number | Writable;
/** Where a run's stdin comes from: its bytes, a Readable, a file descriptor, or this process's stdin. */
export type InputSource = 'inherit' | number | string | Uint8Array | Readable;

/** What one run (or one instance) gets. */
export interface RunOptions {
  /** The program's argv, its name first (as `wasiOptions.args`). Default `[]`. */
  args?: string[];
  env?: Record<string, string>;
  /** `{ guestPath: hostDirectory }`, as `wasiOptions.preopens`. */
  preopens?: Record<string, string>;
  /**
   * Default: empty (the program reads the end of input at once). A Readable is read as the program
   * asks for input and paused in between; when the run ends its listeners are removed and it is
   * left paused, holding what was not read. A stream that fails is a read error in the program.
   */
  stdin?: InputSource;
  /**
   * Default `'inherit'`. `'buffer'` captures it into the result (runs only), up to `maxBuffer`. A
   * \`Writable\` is written in order; the program's writes wait while 1 MiB, or 1,024 writes, it wrote
   * are not yet taken by the stream (its write callbacks), as writes to a full pipe do. A Writable
   * that fails (a write's callback gets an error, or it emits 'error' while the run lasts) ends
   * the run with RunOutputError; its 'error' does not bring the process down meanwhile.
   */
  stdout?: OutputTarget;
  stderr?: OutputTarget;
  /**
   * The most bytes stdout or stderr captured with `'buffer'` may hold (each). Past it the run is
   * ended and rejects with RunOutputLimitError, as \`child_process\`'s \`maxBuffer\`. Default 64 MiB.
   */
  maxBuffer?: number;
  /** Ends the run (or the call) when it aborts; the promise rejects with RunAbortedError. */
  signal?: AbortSignal;
  /** Ends the run after this long, its time in the queue included; the promise rejects with RunTimeoutError. */
  timeoutMs?: number;
  /** Lower than the runtime's maxThreads for this run. */
  maxThreads?: number;
  /**
   * The most memory this run (or instance) may grow to, in 64 KiB pages: between the runtime's
   * `memorySetting.initial` and `.maximum`. Past it, `memory.grow` fails in the program (as with
   * any memory's maximum). A run with its own maximum is not one of the prepared runs (those have
   * the runtime's): it is prepared when it starts, and its memory is kept for later runs with the same maximum.
   */
  maxMemoryPages?: number;
}

export interface RunResult {
  exitCode: number;
  /** What the program wrote to stdout, when `stdout: 'buffer'`; else empty. */
  stdout: Buffer;
  stderr: Buffer;
  stats: ProgramStats;
  /** From `run()` to the end, the time in the queue included. */
  durationMs: number;
}

export interface RuntimeStats extends RuntimeWorkerStats {
  /** Runs that ended (with an exit code or an error). */
  runs: number;
  activeRuns: number;
  queuedRuns: number;
  liveInstances: number;
  /** Runs and instances that found a prepared run ready, and those that had to wait for one. */
  preparedHits: number;
  preparedMisses: number;
  /** Memories made for runs and instances; the other runs reused one an ended run left. */
  memoriesCreated: number;
}

/** Options of one call into an instance. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Creates a runtime for one module. Resolves once the first run is prepared. */
export async function createRuntime(config: RuntimeConfig): Promise<Runtime> {
  if (config === null || typeof config !== 'object') throw new InvalidOptionError('createRuntime needs a config object');
  const { maxConcurrentRuns, preparedRuns, maxWorkers, wasiImplementation, ...rest } = config;
  if (wasiImplementation !== undefined && wasiImplementation !== 'shared') {
    throw new InvalidOptionError(`a runtime needs wasiImplementation 'shared' (per-run stdio and descriptors), got ${String(wasiImplementation)}`);
  }
  const resolved = resolveConfig({ ...(rest as RuntimeConfig), entryFile: LIBRARY_WORKER, namespace: `runtime_${nextRuntime++}` });
  const limits = {
    maxConcurrentRuns: wholeNumber(maxConcurrentRuns ?? availableParallelism(), 'maxConcurrentRuns', 1, LIMITS.maxConcurrentRuns),
    preparedRuns: wholeNumber(preparedRuns ?? DEFAULT_PREPARED_RUNS, 'preparedRuns', 0, LIMITS.preparedRuns),
    maxWorkers: 0,
  };
  const everyone = limits.maxConcurrentRuns * (1 + resolved.maxThreads) + limits.preparedRuns * (1 + resolved.poolSize);
  limits.maxWorkers = wholeNumber(maxWorkers ?? everyone, 'maxWorkers', 1 + resolved.poolSize, Number.MAX_SAFE_INTEGER);
  // Each run's memory starts at the module's own minimum unless set, as a new instance's would, and
  // a program that needs more grows it as it would anywhere. (Where pages cannot be located, the
  // next run zeroes every page the last one had: measured, zeroing the 512-page default took ~2.5 ms
  // of CPU a run, a quarter of a short run's cost. On Linux only pages ever written are zeroed.)
  const loaded = await loadProgram({ ...rest, entryFile: LIBRARY_WORKER, memorySetting: resolved.memorySetting } as WasiMainConfig, {
    initialAsDeclared: true,
    locateMemory: true,
  });
  if (!loaded.hasStart && !loaded.threaded && !loaded.memory) {
    // Nothing to share and nothing to run: almost certainly the wrong file.
    throw new ModuleRequirementError('the module exports no _start and imports no memory: a runtime runs WASI commands (_start) and reactors');
  }
  const runtime = new Runtime({ ...resolved, poolSize: loaded.threaded ? resolved.poolSize : 0 }, loaded, limits);
  await runtime.firstPrepared();
  return runtime;
}

let nextRuntime = 1;

/**
 * Runs kept prepared by default. Two, because a run's workers come back a moment after it ends:
 * with one, back-to-back runs often found the next still instantiating (measured: 1 hit in 5).
 */
const DEFAULT_PREPARED_RUNS = 2;

/**
 * A memory passed on to a later run may have grown by at most this much: 64 pages (4 MiB), and at
 * most an eighth of the room between its initial size and its maximum. So a run starts with at
 * least seven eighths of the room a new memory gives. Memories cannot shrink, and many allocators
 * (Zig's, Rust's) take pages by growing the memory even when the pages below are free: memories
 * passed on unchecked grew with every run, until runs failed at the maximum (and each run's zeroing
 * took longer). Not passing on grown memories at all would make a new memory for nearly every run
 * of such programs, each a full collection's worth of garbage (garbage.ts).
 */
const SPARE_GROWTH_PAGES = 64;
const SPARE_GROWTH_OF_ROOM = 1 / 8;

interface Limits {
  maxConcurrentRuns: number;
  preparedRuns: number;
  maxWorkers: number;
}

interface Waiting {
  admit: () => void;
  fail: (error: Error) => void;
}

/** The stdio of one run: host fds for fds 0-2, and the sinks of the relayed ones. */
class RunStdio {
  readonly fds: number[];
  readonly stdin: StdinSource | undefined;
  private readonly captured = [new ByteCollector(), new ByteCollector()] as const;
  private readonly maxBuffer: number;
  /** A capture that went past maxBuffer, or a Writable that failed, takes no more. */
  private readonly stopped = [false, false];
  private readonly targets: [OutputTarget, OutputTarget];
  /**
   * Ends the run once its output cannot go on: a capture went past maxBuffer, or a Writable failed
   * (set when the run starts).
   */
  fail: (error: RunOutputLimitError | RunOutputError) => void = () => {};
  /** Why the output could not go on, if it could not: the run fails with it even if the program had ended meanwhile. */
  failure: RunOutputLimitError | RunOutputError | undefined;

  constructor(
    options: RunOptions,
    private readonly what: 'the run' | 'the instance' = 'the run',
  ) {
    this.targets = [options.stdout ?? 'inherit', options.stderr ?? 'inherit'];
    this.maxBuffer = options.maxBuffer ?? DEFAULTS.maxBuffer;
    const input = options.stdin ?? '';
    if (typeof input === 'string' || input instanceof Uint8Array) this.stdin = new BytesStdin(typeof input === 'string' ? Buffer.from(input) : input);
    // Read as the program asks, paused in between; let go (listeners off, paused) when the run ends.
    else if (isReadable(input)) this.stdin = new StreamStdin(() => input, true);
    const inFd = this.stdin ? RELAYED.stdin : input === 'inherit' ? 0 : (input as number);
    const outFd = (target: OutputTarget, stream: 1 | 2, relayed: number) => (target === 'inherit' ? stream : typeof target === 'number' ? target : relayed);
    this.fds = [inFd, outFd(this.targets[0], 1, RELAYED.stdout), outFd(this.targets[1], 2, RELAYED.stderr)];
  }

  /**
   * While the run lasts, a Writable's 'error' ends the run (RunOutputError) rather than the
   * process (an 'error' nobody listens to is thrown). Returns the end of the watch.
   */
  watch(): () => void {
    const listeners = new Map<Writable, (error: unknown) => void>();
    for (const target of new Set(this.targets)) {
      // Duck-typed sinks (an object with a write method) are taken too: only emitters are listened to.
      if (typeof target !== 'object' || typeof target.on !== 'function' || typeof target.off !== 'function') continue;
      // The stream or streams (stdout and stderr may share one) that this Writable is.
      const onError = (error: unknown) => {
        for (const stream of [1, 2] as const) if (this.targets[stream - 1] === target) this.stop(stream, error);
      };
      target.on('error', onError);
      listeners.set(target, onError);
    }
    // After the ticks already queued: a failed write's 'error' is emitted on a later tick than its callback.
    return () => {
      setImmediate(() => {
        for (const [target, onError] of listeners) target.off('error', onError);
      });
    };
  }

  private stop(stream: 1 | 2, error: unknown): void {
    if (this.stopped[stream - 1]) return;
    this.stopped[stream - 1] = true;
    this.failWith(new RunOutputError(stream === 1 ? 'stdout' : 'stderr', error, this.what));
  }

  private failWith(error: RunOutputLimitError | RunOutputError): void {
    this.failure ??= error;
    this.fail(error);
  }

  /** Takes a write of the program; `taken` lets it write more (see Program's `deliver`). */
  readonly output = (stream: 1 | 2, bytes: Uint8Array, taken: () => void): void => {
    const target = this.targets[stream - 1]!;
    if (typeof target === 'object') {
      if (this.stopped[stream - 1]) return taken();
      // Known at once, not at the write's callback (a later tick, maybe after the program's end).
      if (target.destroyed || target.writableEnded) {
        this.stop(stream, target.errored ?? new Error(`the stream was ${target.destroyed ? 'destroyed' : 'ended'} before the program wrote to it`));
        return taken();
      }
      // Called once the stream took the bytes (or failed): until then they count as on their way.
      let counted = false;
      const takenOnce = () => {
        if (!counted) taken();
        counted = true;
      };
      try {
        target.write(bytes, (error) => {
          takenOnce();
          if (error) this.stop(stream, error);
        });
      } catch (error) {
        // A sink that throws (a write after end on some streams, a duck-typed sink): not the process's end.
        takenOnce();
        this.stop(stream, error);
      }
      return;
    }
    if (target === 'buffer') this.capture(stream, bytes);
    taken();
  };

  private capture(stream: 1 | 2, bytes: Uint8Array): void {
    if (this.stopped[stream - 1]) return;
    const collector = this.captured[stream - 1]!;
    const room = this.maxBuffer - collector.length;
    // Copied: a view would keep each write's message buffer alive (~8x the bytes for 100-byte writes).
    collector.add(bytes.byteLength <= room ? bytes : bytes.subarray(0, room));
    if (bytes.byteLength > room) {
      this.stopped[stream - 1] = true;
      this.failWith(new RunOutputLimitError(stream === 1 ? 'stdout' : 'stderr', this.maxBuffer));
    }
  }

  captures(stream: 1 | 2): Buffer {
    return this.captured[stream - 1]!.bytes();
  }
}

/** A Readable, or anything that reads like one (events, pause and resume). */
function isReadable(value: unknown): value is Readable {
  const stream = value as Readable | null;
  return (
    typeof stream === 'object' && stream !== null && ['on', 'off', 'pause', 'resume'].every((method) => typeof stream[method as keyof Readable] === 'function')
  );
}

function checkTarget(value: unknown, option: string, buffer: boolean): void {
  if (value === undefined || value === 'inherit' || value === 'ignore') return;
  if (value === 'buffer') {
    if (!buffer) throw new InvalidOptionError(`${option} 'buffer' is for runs; an instance writes to 'inherit', 'ignore', a fd or a Writable`);
    return;
  }
  if (typeof value === 'number') return checkStdioFd(value, option);
  if (value !== null && typeof value === 'object' && typeof (value as Writable).write === 'function') return;
  throw new InvalidOptionError(`${option} must be 'inherit', 'buffer', 'ignore', a file descriptor or a Writable`);
}

function checkRunOptions(options: RunOptions, forRun: boolean, maxThreads: number, memory: { initial: number; maximum?: number } | undefined): RunOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('run() takes an options object');
  checkWasiStrings({ args: options.args, env: options.env, preopens: options.preopens });
  const { stdin, signal, timeoutMs } = options;
  if (!(stdin === undefined || stdin === 'inherit' || typeof stdin === 'string' || stdin instanceof Uint8Array || isReadable(stdin))) {
    if (typeof stdin !== 'number') throw new InvalidOptionError("stdin must be a string, bytes, a Readable, a file descriptor or 'inherit'");
    checkStdioFd(stdin, 'stdin');
  }
  checkTarget(options.stdout, 'stdout', forRun);
  checkTarget(options.stderr, 'stderr', forRun);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal must be an AbortSignal');
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0))
    throw new InvalidOptionError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  if (options.maxThreads !== undefined) wholeNumber(options.maxThreads, 'maxThreads', 1, maxThreads);
  if (options.maxBuffer !== undefined) wholeNumber(options.maxBuffer, 'maxBuffer', 0, constants.MAX_LENGTH);
  if (options.maxMemoryPages !== undefined) {
    if (!memory?.maximum) throw new InvalidOptionError('maxMemoryPages needs a module whose memory the runtime makes (an imported shared memory)');
    wholeNumber(options.maxMemoryPages, 'maxMemoryPages', memory.initial, memory.maximum);
  }
  return options;
}

/**
 * Arms a run's (or a call's) timeout and abort signal: `end` is called with the error once, the
 * returned function disarms both.
 */
function watchLimits(options: CallOptions, what: string, end: (error: WasiThreadsError) => void, startedAt = performance.now()): () => void {
  const { signal, timeoutMs } = options;
  const onAbort = () => end(new RunAbortedError(signal!.reason, what));
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === undefined ? undefined : setTimeout(() => end(new RunTimeoutError(timeoutMs, what)), Math.max(0, timeoutMs - (performance.now() - startedAt)));
  return () => {
    signal?.removeEventListener('abort', onAbort);
    clearTimeout(timer);
  };
}

export class Runtime {
  private readonly workers: RuntimeWorkers;
  private prepared: Program[] = [];
  private readonly live = new Set<Program>();
  private queue: Waiting[] = [];
  private activeRuns = 0;
  private liveInstances = 0;
  private awaited = 0;
  private ended = 0;
  private hits = 0;
  private misses = 0;
  private nextRun = 1;
  private closed = false;
  /** Set when a run failed while being prepared (a module that cannot be instantiated): no more are prepared. */
  private broken: Error | undefined;
  private firstMemoryUsed = false;
  /** Memories of ended runs, by their maximum in pages, for the next runs (see `memoryForRun`). */
  private spareMemories = new Map<number, LocatedMemory[]>();
  private spareCount = 0;
  private memoriesCreated = 0;
  /** Runs waiting for a worker to come back (see `awaitReturningWorkers`). */
  private workerBackWaiters: Array<() => void> = [];
  /** The module's exported functions (with their signatures when known), which instances' calls are checked against. */
  private functions: ReadonlyMap<string, FunctionType | undefined> | undefined;

  /** @internal Use createRuntime(). */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly loaded: LoadedProgram,
    private readonly limits: Limits,
  ) {
    this.workers = new RuntimeWorkers(
      config,
      limits.maxWorkers,
      // Enough idle workers for a full load (every run at once, and the prepared ones): fewer would be
      // ended after each burst and started again for the next.
      () => (limits.maxConcurrentRuns + limits.preparedRuns) * (1 + config.poolSize),
      () => {
        this.topUp();
        this.wakeWorkerBackWaiters();
      },
    );
    this.workers.setReferenced(false);
    this.topUp();
  }

  /** @internal Resolves once the first prepared run is ready (rejects with why it could not be prepared). */
  async firstPrepared(): Promise<void> {
    const first = this.prepared[0];
    if (!first) return;
    await this.hold(Promise.race([first.ready, first.exited.then(() => undefined)])).catch(() => undefined);
    if (this.broken) {
      await this.close();
      throw this.broken;
    }
  }

  stats(): RuntimeStats {
    return {
      ...this.workers.stats(),
      runs: this.ended,
      activeRuns: this.activeRuns,
      queuedRuns: this.queue.length,
      liveInstances: this.liveInstances,
      preparedHits: this.hits,
      preparedMisses: this.misses,
      memoriesCreated: this.memoriesCreated,
    };
  }

  /**
   * Runs the module's `_start` once, with its own memory, descriptors, args, env and stdio.
   * Resolves with the exit code and captured output; rejects with a typed error when the run
   * traps, times out, is aborted, or the runtime closes.
   */
  async run(options: RunOptions = {}): Promise<RunResult> {
    const startedAt = performance.now();
    checkRunOptions(options, true, this.config.maxThreads, this.memoryLimits);
    if (!this.loaded.hasStart) throw new ModuleRequirementError('the module exports no _start (a reactor?): call instantiate() and then its exports');
    await this.admit(options, startedAt);
    const stdio = new RunStdio(options);
    let program: Program | undefined;
    let disarm = () => {};
    const unwatch = stdio.watch();
    try {
      await this.awaitReturningWorkers();
      program = this.start(options, stdio, false);
      const running = program;
      disarm = watchLimits(options, 'the run', (error) => void running.abort(error), startedAt);
      stdio.fail = (error) => void running.abort(error);
      const exitCode = await program.exited;
      // Output the program wrote before its end, delivered as it ended (a write that waited for
      // an earlier one of another thread), may have failed after the abort could change anything.
      if (stdio.failure) throw stdio.failure;
      return { exitCode, stdout: stdio.captures(1), stderr: stdio.captures(2), stats: program.stats(), durationMs: performance.now() - startedAt };
    } finally {
      unwatch();
      disarm();
      if (program) this.live.delete(program);
      this.ended++;
      this.activeRuns--;
      this.admitNext();
    }
  }

  /**
   * A live instance of a reactor module (one that exports `_initialize` and no `_start`): its
   * `_initialize` runs once, then `call()` runs its exports on the instance's main thread; threads
   * they spawn come from the instance's pool. `timeoutMs` and `signal` here bound `_initialize`.
   */
  async instantiate(options: RunOptions = {}): Promise<WasmInstance> {
    const startedAt = performance.now();
    checkRunOptions(options, false, this.config.maxThreads, this.memoryLimits);
    if (this.loaded.hasStart) throw new ModuleRequirementError('the module exports _start (a command): run() it; instantiate() is for reactors');
    if (this.closed) throw new RuntimeClosedError();
    const stdio = new RunStdio(options, 'the instance');
    const unwatch = stdio.watch();
    let program: Program;
    try {
      program = this.start(options, stdio, true);
    } catch (error) {
      unwatch();
      throw error;
    }
    stdio.fail = (error) => void program.abort(error);
    this.liveInstances++;
    void program.exited
      .catch(() => undefined)
      .finally(() => {
        unwatch();
        this.live.delete(program);
        this.liveInstances--;
      });
    const disarm = watchLimits(options, "the instance's _initialize", (error) => void program.abort(error), startedAt);
    try {
      await this.hold(program.whenInitialized());
    } finally {
      disarm();
    }
    this.functions ??= new Map(
      WebAssembly.Module.exports(this.loaded.module as WebAssembly.Module)
        .filter((e) => e.kind === 'function')
        .map((e) => [e.name, this.loaded.exportTypes?.get(e.name)]),
    );
    return new WasmInstance(program, this.functions, this);
  }

  /** Ends every run and instance (they reject with RuntimeClosedError) and every worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeWorkerBackWaiters();
    for (const waiting of this.queue) waiting.fail(new RuntimeClosedError());
    this.queue = [];
    const programs = [...this.prepared, ...this.live];
    this.prepared = [];
    await Promise.all(programs.map((program) => program.abort(new RuntimeClosedError())));
    await this.workers.close();
  }

  /** Waits for a place among maxConcurrentRuns (in order); the run's timeout and signal apply while it waits. */
  private async admit(options: RunOptions, startedAt: number): Promise<void> {
    if (this.closed) throw new RuntimeClosedError();
    if (options.signal?.aborted) throw new RunAbortedError(options.signal.reason);
    if (this.activeRuns < this.limits.maxConcurrentRuns && this.queue.length === 0) {
      this.activeRuns++;
      this.updateReferenced();
      return;
    }
    let disarm = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        const waiting: Waiting = { admit: resolve, fail: reject };
        this.queue.push(waiting);
        this.updateReferenced();
        disarm = watchLimits(
          options,
          'the run',
          (error) => {
            this.queue = this.queue.filter((w) => w !== waiting);
            reject(error);
          },
          startedAt,
        );
      });
    } finally {
      disarm();
      this.updateReferenced();
    }
  }

  private admitNext(): void {
    const next = this.queue.shift();
    if (next) {
      this.activeRuns++;
      next.admit();
    } else {
      this.updateReferenced();
    }
  }

  /**
   * The workers keep the process alive only while a caller awaits the runtime (a run, a call, an
   * instance's or the runtime's start): an idle runtime, even one never closed, lets it end.
   */
  private updateReferenced(): void {
    this.workers.setReferenced(this.activeRuns + this.queue.length + this.awaited > 0);
  }

  /** @internal Counts a promise a caller awaits (see `updateReferenced`) until it settles. */
  async hold<T>(work: Promise<T>): Promise<T> {
    this.awaited++;
    this.updateReferenced();
    try {
      return await work;
    } finally {
      this.awaited--;
      this.updateReferenced();
    }
  }

  /**
   * A run ends without waiting for its idle pool workers to wake and say they are back (see
   * `Program.release`): the next run, when none is prepared or being prepared, waits for them
   * here (they prepare it as they come back) rather than start new workers, which takes tens of
   * milliseconds. They come back or are ended within LEAVE_GRACE_MS.
   */
  private async awaitReturningWorkers(): Promise<void> {
    while (!this.closed && this.prepared.length === 0 && this.workers.returning > 0) {
      await new Promise<void>((resolve) => this.workerBackWaiters.push(resolve));
    }
  }

  /** A worker came back (or the runtime closed): the runs in `awaitReturningWorkers` look again. */
  private wakeWorkerBackWaiters(): void {
    for (const resolve of this.workerBackWaiters.splice(0)) resolve();
  }

  /** Takes a prepared run (or prepares one now) and lets it go with this run's config and stdio. */
  private start(options: RunOptions, stdio: RunStdio, reactor: boolean): Program {
    if (this.closed) throw new RuntimeClosedError();
    if (this.broken) throw this.broken;
    const preopens = openPreopens(options.preopens ?? {});
    let program: Program;
    try {
      const index = this.prepared.findIndex((p) => p.isReady);
      const ownMaximum = options.maxMemoryPages !== undefined && options.maxMemoryPages !== this.memoryLimits?.maximum;
      if (ownMaximum) {
        this.misses++;
        program = this.prepare(options.maxMemoryPages);
      } else if (index >= 0) {
        this.hits++;
        program = this.prepared.splice(index, 1)[0]!;
      } else {
        this.misses++;
        program = this.prepared.shift() ?? this.prepare();
      }
    } catch (error) {
      closePreopens(preopens);
      throw error;
    }
    this.live.add(program);
    const start: ProgramStart = {
      config: { args: options.args ?? [], env: options.env ?? {}, preopens: preopens.names },
      stdio: stdio.fds,
      preopens,
      reactor,
      maxThreads: options.maxThreads ?? this.config.maxThreads,
      stdin: stdio.stdin,
      output: stdio.output,
    };
    program.go(start);
    this.topUp();
    return program;
  }

  /** Prepares runs until `preparedRuns` are, while the workers allow. */
  private topUp(): void {
    const needs = 1 + this.config.poolSize;
    while (!this.closed && !this.broken && this.prepared.length < this.limits.preparedRuns && this.workers.available >= needs) {
      // Workers on their way back will do: starting new ones now would only add to the idle.
      if (this.workers.idle < needs && this.workers.returning > 0) return;
      this.prepared.push(this.prepare());
    }
  }

  /** The runtime's memory limits in pages (absent for a module that makes its own memory). */
  private get memoryLimits(): { initial: number; maximum?: number } | undefined {
    return this.loaded.memoryDescriptor as { initial: number; maximum?: number } | undefined;
  }

  private prepare(maximum = this.memoryLimits?.maximum): Program {
    const run = this.nextRun++;
    const { memory, address, reused } = this.memoryForRun(maximum);
    const program = new Program(
      { ...this.config, namespace: `${this.config.namespace}_run${run}` },
      { ...this.loaded, memory, memoryAddress: address },
      {
        host: this.workers,
        run,
        prepared: true,
        clearMemory: reused,
      },
    );
    program.start();
    program.exited
      .catch((error: Error) => {
        const index = this.prepared.indexOf(program);
        if (index < 0) return; // it had started: its run reports the error
        this.prepared.splice(index, 1);
        if (!this.closed) this.broken = error;
      })
      .finally(() => {
        if (!memory) return;
        // A worker left behind may still write into it once its blocked call returns.
        if (program.workersLeftBehind > 0) this.letGo();
        else this.keepMemory({ memory, address }, maximum);
      });
    return program;
  }

  /**
   * A memory for the next run: one an ended run left (cleared by the next run's main thread before
   * anything else touches it), or a new one. Reusing them matters: with a new memory per run, the
   * process's address space grew by a memory's whole reservation (~10 GB) every run and was never
   * given back while the runtime's workers lived, though no JS heap held the memory any more
   * (measured; the native holder was not found).
   */
  private memoryForRun(maximum: number | undefined): { memory: WasmMemory | undefined; address?: number; reused: boolean } {
    const spare = this.spareMemories.get(maximum ?? 0)?.pop();
    if (spare) {
      this.spareCount--;
      return { ...spare, reused: true };
    }
    if (this.memoryLimits) this.memoriesCreated++;
    if (maximum === this.memoryLimits?.maximum && !this.firstMemoryUsed) {
      // The memory loadProgram made, for the first run with the runtime's maximum.
      this.firstMemoryUsed = true;
      return { memory: this.loaded.memory, address: this.loaded.memoryAddress, reused: false };
    }
    const fresh = freshMemory(this.loaded, maximum);
    return { memory: fresh?.memory, address: fresh?.address, reused: false };
  }

  /**
   * Called once every worker of the run that had `memory` (made with `maximum`) has ended or left
   * it. A memory is kept for a later run (which zeroes it first) while it grew by at most
   * SPARE_GROWTH and the spares have room; otherwise it is let go (`letGo`) and a later run gets a
   * new one.
   */
  private keepMemory(kept: LocatedMemory, maximum: number | undefined): void {
    const { memory } = kept;
    const initial = this.memoryLimits?.initial;
    if (initial === undefined || this.closed) return;
    // grow(0): the memory's size now, also where this thread's view of it lags another's grow.
    const room = (maximum ?? initial) - initial;
    if (memory.grow(0) > initial + Math.min(SPARE_GROWTH_PAGES, Math.floor(room * SPARE_GROWTH_OF_ROOM))) return this.letGo();
    if (this.spareCount >= this.limits.maxConcurrentRuns + this.limits.preparedRuns) {
      // Full: a memory with the runtime's maximum (what prepared runs take) displaces another.
      const other = [...this.spareMemories].find(([max, spares]) => max !== (this.memoryLimits?.maximum ?? 0) && spares.length > 0);
      if (maximum !== this.memoryLimits?.maximum || !other) return this.letGo();
      other[1].pop();
      this.spareCount--;
      this.letGo();
    }
    const spares = this.spareMemories.get(maximum ?? 0) ?? [];
    spares.push(kept);
    this.spareMemories.set(maximum ?? 0, spares);
    this.spareCount++;
  }

  /**
   * A memory no run will have again. Every one counts: the memories of ended runs are given back
   * only by full collections in every isolate that held one, which garbage.ts asks for once
   * enough were let go. Uncounted (runs whose \`maxMemoryPages\` varied left memories the full
   * spares turned away), the process's address space grew by a memory's reservation a run, ~6.8 TB
   * every 1,000 runs, without end.
   */
  private letGo(): void {
    this.workers.collector.dropped();
  }
}

/**
 * Refuses, before anything reaches the instance, arguments that JS's conversion to the export's
 * parameters would throw on inside the worker (which ends the instance as a trap would): an i64
 * takes a bigint, an i32, f32 or f64 a number. With the signature known, every parameter must be
 * given, and exports with parameters `call()` cannot pass (v128, references) are refused.
 */
function checkArguments(name: string, args: unknown[], type: FunctionType | undefined): void {
  args.forEach((arg, i) => {
    if (typeof arg !== 'number' && typeof arg !== 'bigint') throw new InvalidOptionError(`argument ${i} of ${name} must be a number or a bigint`);
  });
  if (!type) return;
  const { params } = type;
  const signature = `${name}(${params.join(', ')})`;
  if (params.includes('other')) throw new InvalidOptionError(`${signature} takes a parameter that call() cannot pass (a v128 or a reference)`);
  if (args.length !== params.length) throw new InvalidOptionError(`${signature} takes ${params.length} argument(s); got ${args.length}`);
  params.forEach((param, i) => {
    const wanted = param === 'i64' ? 'bigint' : 'number';
    if (typeof args[i] !== wanted) throw new InvalidOptionError(`argument ${i} of ${signature} is an ${param}: pass a ${wanted}, not a ${typeof args[i]}`);
  });
}

/** A live instance of a reactor module (see `Runtime.instantiate`). */
export class WasmInstance {
  /** The instance's shared memory, for passing bytes in and out of calls. */
  readonly memory: WasmMemory | undefined;

  /** @internal Use runtime.instantiate(). */
  constructor(
    private readonly program: Program,
    /** The module's exported functions and their signatures when known (the runtime's one map). */
    private readonly functions: ReadonlyMap<string, FunctionType | undefined>,
    private readonly runtime: Runtime,
  ) {
    this.memory = program.memory;
  }

  /** Calls the export `name` on the instance's main thread; resolves with what it returns. A trap ends the instance. */
  call(name: string, ...args: Array<number | bigint>): Promise<unknown> {
    return this.callWith({}, name, ...args);
  }

  /** `call` with a timeout or an abort signal: either ends the instance (its threads may be anywhere). */
  async callWith(options: CallOptions, name: string, ...args: Array<number | bigint>): Promise<unknown> {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('callWith() takes an options object first');
    checkRunOptions({ signal: options.signal, timeoutMs: options.timeoutMs }, false, Number.MAX_SAFE_INTEGER, undefined);
    if (typeof name !== 'string' || !this.functions.has(name)) throw new InvalidOptionError(`"${String(name)}" is not a function the module exports`);
    checkArguments(name, args, this.functions.get(name));
    if (options.signal?.aborted) throw new RunAbortedError(options.signal.reason, `the call of ${name}`);
    const disarm = watchLimits(options, `the call of ${name}`, (error) => void this.program.abort(error));
    try {
      return await this.runtime.hold(this.program.call(name, args));
    } finally {
      disarm();
    }
  }

  stats(): ProgramStats {
    return this.program.stats();
  }

  /** Ends the instance; its workers go back to the runtime. */
  async destroy(): Promise<void> {
    await this.program.destroy();
  }
}
