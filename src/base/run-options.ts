/**
 * The options of a runtime, of its runs and instances, and of a call into an instance: their
 * types, their defaults and their checks. Every check happens before anything starts, and a
 * failing one throws an InvalidOptionError that names the option as the caller wrote it.
 */
import { constants } from 'node:buffer';
import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { InvalidOptionError } from './errors.js';
import {
  checkKeys,
  checkLimitOptions,
  checkStdioFd,
  checkWasiStrings,
  LIMITS,
  type MemorySetting,
  type ResolvedConfig,
  type WasmSource,
  type WorkerOptions,
  wholeNumber,
} from './options.js';

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
  /** The grow guard (see `WasiMainOptions.growGuard`): the module is rewritten at load unless false. Default: true. */
  growGuard?: boolean;
  /**
   * The instance reset: the module gets an export at load with which a worker kept from one run to
   * the next resets its instance for the next run rather than make a new one (its one visible change
   * to the program: `data.drop` becomes `nop`s). False: kept workers make a new instance each run.
   * Default: true.
   */
  instanceReset?: boolean;
  /** Ends `createRuntime` (RunAbortedError), its workers ended, if it aborts before the runtime is ready. */
  signal?: AbortSignal;
  /** Ends `createRuntime` (RunTimeoutError), its workers ended, if the runtime is not ready within this long (ms). */
  timeoutMs?: number;
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

/** Options of one call into an instance. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Every key of `createRuntime`'s config, of a run's (or an instance's) options and of a call's. */
const RUNTIME_KEYS = [
  'wasmFile',
  'wasmModule',
  'poolSize',
  'maxThreads',
  'maxConcurrentRuns',
  'preparedRuns',
  'maxWorkers',
  'memorySetting',
  'wasiImplementation',
  'workerOptions',
  'growGuard',
  'instanceReset',
  'signal',
  'timeoutMs',
] as const satisfies readonly (keyof RuntimeConfig)[];
const RUN_KEYS = [
  'args',
  'env',
  'preopens',
  'stdin',
  'stdout',
  'stderr',
  'maxBuffer',
  'signal',
  'timeoutMs',
  'maxThreads',
  'maxMemoryPages',
] as const satisfies readonly (keyof RunOptions)[];
const CALL_KEYS = ['signal', 'timeoutMs'] as const satisfies readonly (keyof CallOptions)[];

/**
 * Runs kept prepared by default. Two, because a run's workers come back a moment after it ends:
 * with one, back-to-back runs often found the next still instantiating (measured: 1 hit in 5).
 */
const DEFAULT_PREPARED_RUNS = 2;

/** A runtime's limits on runs and workers, resolved from its config. */
export interface RuntimeLimits {
  maxConcurrentRuns: number;
  preparedRuns: number;
  maxWorkers: number;
}

/** Checks and resolves `createRuntime`'s limits on runs and workers; `resolved` is the rest of its config, resolved. */
export function resolveRuntimeLimits(
  { maxConcurrentRuns, preparedRuns, maxWorkers }: Pick<RuntimeOptions, 'maxConcurrentRuns' | 'preparedRuns' | 'maxWorkers'>,
  resolved: ResolvedConfig,
): RuntimeLimits {
  const runtimeLimits = {
    maxConcurrentRuns: wholeNumber(maxConcurrentRuns ?? availableParallelism(), 'maxConcurrentRuns', 1, LIMITS.maxConcurrentRuns),
    preparedRuns: wholeNumber(preparedRuns ?? DEFAULT_PREPARED_RUNS, 'preparedRuns', 0, LIMITS.preparedRuns),
    maxWorkers: 0,
  };
  const everyone = runtimeLimits.maxConcurrentRuns * (1 + resolved.maxThreads) + runtimeLimits.preparedRuns * (1 + resolved.poolSize);
  runtimeLimits.maxWorkers = wholeNumber(maxWorkers ?? everyone, 'maxWorkers', 1 + resolved.poolSize, Number.MAX_SAFE_INTEGER);
  return runtimeLimits;
}

/** Checks `createRuntime`'s config as a whole: its keys, its limits and its WASI. */
export function checkRuntimeConfig(config: RuntimeConfig): void {
  if (config === null || typeof config !== 'object') throw new InvalidOptionError('createRuntime needs a config object');
  checkKeys(config, RUNTIME_KEYS, 'the config of createRuntime');
  checkLimitOptions({ signal: config.signal, timeoutMs: config.timeoutMs });
  if (config.instanceReset !== undefined && typeof config.instanceReset !== 'boolean') {
    throw new InvalidOptionError(`instanceReset must be true or false, got ${typeof config.instanceReset}`);
  }
  const { wasiImplementation } = config;
  if (wasiImplementation !== undefined && wasiImplementation !== 'shared') {
    throw new InvalidOptionError(`a runtime needs wasiImplementation 'shared' (per-run stdio and descriptors), got ${String(wasiImplementation)}`);
  }
}

/** Checks the options of a call into an instance (`callWith`). */
export function checkCallOptions(options: CallOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('callWith() takes an options object first');
  checkKeys(options, CALL_KEYS, 'the options of callWith()');
  checkLimitOptions(options);
}

/** A Readable, or anything that reads like one (events, pause and resume). */
export function isReadable(value: unknown): value is Readable {
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

/** Checks the options of a run (`forRun`) or of an instance, against the runtime's maxThreads and memory limits. */
export function checkRunOptions(
  options: RunOptions,
  forRun: boolean,
  maxThreads: number,
  memory: { initial: number; maximum?: number } | undefined,
): RunOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('run() takes an options object');
  checkKeys(options, RUN_KEYS, forRun ? 'the options of run()' : 'the options of instantiate()');
  checkWasiStrings({ args: options.args, env: options.env, preopens: options.preopens }, '');
  const { stdin } = options;
  if (!(stdin === undefined || stdin === 'inherit' || typeof stdin === 'string' || stdin instanceof Uint8Array || isReadable(stdin))) {
    if (typeof stdin !== 'number') throw new InvalidOptionError("stdin must be a string, bytes, a Readable, a file descriptor or 'inherit'");
    checkStdioFd(stdin, 'stdin');
  }
  checkTarget(options.stdout, 'stdout', forRun);
  checkTarget(options.stderr, 'stderr', forRun);
  checkLimitOptions(options);
  if (options.maxThreads !== undefined) wholeNumber(options.maxThreads, 'maxThreads', 1, maxThreads);
  if (options.maxBuffer !== undefined) wholeNumber(options.maxBuffer, 'maxBuffer', 0, constants.MAX_LENGTH);
  if (options.maxMemoryPages !== undefined) {
    if (!memory?.maximum) throw new InvalidOptionError('maxMemoryPages needs a module whose memory the runtime makes (an imported shared memory)');
    wholeNumber(options.maxMemoryPages, 'maxMemoryPages', memory.initial, memory.maximum);
  }
  return options;
}
