/**
 * The options of `startWasiMain` / `initWasiMain` (and the parts a runtime shares): their types,
 * the library's defaults and hard limits (`DEFAULTS`, `LIMITS`: the one place for both), and their
 * checks. A runtime's own options and a run's are checked in run-options.ts with these helpers.
 * Every option is checked before anything starts, unknown keys included.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, fstatSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError } from './errors.js';
import type { WasmModule } from './wasm-types.js';

/** Options handed to Node's `WASI` in every thread (see `node:wasi`). */
export interface WasiOptions {
  args?: string[];
  env?: Record<string, string>;
  preopens?: Record<string, string>;
  version?: 'preview1' | 'unstable';
  stdin?: number;
  stdout?: number;
  stderr?: number;
}

/** Size of the shared memory in 64 KiB pages. */
export interface MemorySetting {
  initial?: number;
  maximum?: number;
}

/** The wasm program: exactly one of `wasmFile` / `wasmModule`. */
export type WasmSource =
  | {
      /** Path, `file:` URL or bytes of the wasm program. */
      wasmFile: string | URL | ArrayBuffer | ArrayBufferView;
      wasmModule?: never;
    }
  | {
      /** An already compiled `WebAssembly.Module`. */
      wasmModule: WasmModule;
      wasmFile?: never;
    };

/** The config of `initWasiMain` / `startWasiMain`. */
export type WasiMainConfig = WasiMainOptions & WasmSource;

export interface WasiMainOptions {
  /**
   * JS file run as the worker that hosts the wasm main thread; it calls `initWasiWorker()`. Default:
   * the library's own worker script (`wasi-threads-wrapper/worker`), which has no config function.
   */
  entryFile?: string | URL;
  /** JS file run by the workers that host spawned wasm threads. Default: `entryFile`. */
  threadFile?: string | URL;
  /** An exported function to call for the wasm main thread instead of `_start`. */
  initMethod?: string;
  /** Separates several programs in one process. Default: `'wasm_' + random id`. */
  namespace?: string;
  /** The program's WASI: args, env, preopens, stdio. */
  wasiOptions?: WasiOptions;
  /**
   * `'shared'` (default for preview1): the library's WASI, one descriptor table for all threads and
   * no blocking host calls. `'node'`: a `node:wasi` per thread (each with its own descriptors).
   */
  wasiImplementation?: 'shared' | 'node';
  /** Shared memory size in pages. Default: 512 initial / 4096 maximum, kept within the module's declared limits. */
  memorySetting?: MemorySetting;
  /**
   * Idle workers kept instantiated and parked, ready for a warm spawn. The pool grows past it while
   * threads need more workers, and shrinks back after a second without spawns. 0: no pool.
   */
  poolSize?: number;
  /** Most threads alive at once (the main thread not counted); past it `thread-spawn` returns -EAGAIN. */
  maxThreads?: number;
  /** Options for every worker the library starts (as Node's `Worker` takes them). */
  workerOptions?: WorkerOptions;
  /**
   * Rewrite the module at load so that no thread traps on memory another thread has just grown
   * (V8's stale per-thread memory size; see `guardMemoryGrowth`). Default: true. A `wasmModule`
   * has no bytes to rewrite: pass `guardMemoryGrowth(bytes).bytes` to the compiler yourself.
   */
  growGuard?: boolean;
}

/** What the library passes on to each `new Worker()`. */
export interface WorkerOptions {
  /** Node flags for the workers. Default: this process's `process.execArgv` (Node's default). A
   * host run through a loader that registers itself at run time, such as `tsx`, passes it here:
   * `['--import', 'tsx']`, or workers cannot load `.ts` files. */
  execArgv?: string[];
  /** The workers' `process.env`. Default: a copy of this process's environment (Node's default). */
  env?: Record<string, string>;
  /** V8 heap limits of each worker (JS heap only: the wasm memory is shared and not counted). */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number; codeRangeSizeMb?: number; stackSizeMb?: number };
}

/** The ready-made worker script (`wasi-threads-wrapper/worker`), which has no config function: the default `entryFile`. */
export const LIBRARY_WORKER = fileURLToPath(new URL('../worker-entry.js', import.meta.url));

/** Edit distance between two keys, compared without case: for "did you mean". */
function distance(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length]!;
}

/**
 * Refuses a key that `object` (the options object named `where`, as the caller wrote it) does not
 * take, naming the closest known key: from plain JS a misspelled option would otherwise be ignored.
 */
export function checkKeys(object: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const [closest] = [...known].sort((a, b) => distance(key, a) - distance(key, b));
    const near = closest !== undefined && distance(key, closest) <= Math.max(2, Math.floor(key.length / 3));
    throw new InvalidOptionError(`${where} has no option "${key}"${near ? `: did you mean "${closest}"?` : ''} (it takes ${known.join(', ')})`);
  }
}

/** Every key of the config of `startWasiMain` / `initWasiMain`, and of its nested objects. */
export const CONFIG_KEYS = {
  main: [
    'entryFile',
    'threadFile',
    'initMethod',
    'namespace',
    'wasmFile',
    'wasmModule',
    'wasiOptions',
    'wasiImplementation',
    'memorySetting',
    'poolSize',
    'maxThreads',
    'workerOptions',
    'growGuard',
  ],
  wasiOptions: ['args', 'env', 'preopens', 'version', 'stdin', 'stdout', 'stderr'],
  memorySetting: ['initial', 'maximum'],
} as const;

export const DEFAULTS = {
  poolSize: 4,
  maxThreads: 64,
  memory: { initial: 512, maximum: 4096 },
  wasiVersion: 'preview1',
  /** A run's stdout or stderr captured with 'buffer' may hold this many bytes (see `RunOptions.maxBuffer`). */
  maxBuffer: 64 * 1024 ** 2,
} as const;

/** Hard ceilings that keep a typo from starting thousands of workers, or a wrong path from reading without end. */
export const LIMITS = {
  poolSize: 1024,
  maxThreads: 4096,
  memoryPages: 65536,
  maxConcurrentRuns: 4096,
  preparedRuns: 64,
  /** V8's own limit on the size of a wasm module (1 GiB). */
  wasmBytes: 1024 ** 3,
  /** The longest a Node timer waits (ms): past it `setTimeout` fires at once, with a TimeoutOverflowWarning. */
  timerMs: 2 ** 31 - 1,
} as const;

/** A run's (or a call's, or createRuntime's) `signal` and `timeoutMs`: an AbortSignal, and a positive number of ms a timer can honour. */
export function checkLimitOptions({ signal, timeoutMs }: { signal?: unknown; timeoutMs?: unknown }): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal must be an AbortSignal');
  if (timeoutMs === undefined) return;
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0)) throw new InvalidOptionError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  if (timeoutMs > LIMITS.timerMs) {
    throw new InvalidOptionError(`timeoutMs must be at most ${LIMITS.timerMs} ms (about 24.8 days, the longest a Node timer waits), got ${timeoutMs}`);
  }
}

export interface ResolvedConfig {
  entryFile: string;
  threadFile: string;
  initMethod: string;
  namespace: string;
  wasiOptions: Required<Pick<WasiOptions, 'args' | 'env' | 'version'>> & WasiOptions;
  wasiImplementation: 'shared' | 'node';
  memorySetting?: MemorySetting;
  poolSize: number;
  maxThreads: number;
  workerOptions: WorkerOptions;
}

function scriptPath(value: unknown, option: string): string {
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw new InvalidOptionError(`${option} must be a path or a file: URL, got ${value.href}`);
    value = fileURLToPath(value);
  }
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionError(`${option} must be the path of the JS file the worker runs (it calls initWasiWorker()), or left out for the library's own`);
  }
  // Node's Worker takes only absolute paths (or ./-relative ones): a relative path is the caller's, from the cwd.
  const path = resolve(value);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new InvalidOptionError(`${option} "${value}" cannot be read: give the path of an existing JS file`);
  }
  return path;
}

/** A string the program will see as a C string: a NUL inside would silently cut it. */
function cString(value: unknown, option: string): string {
  if (typeof value !== 'string') throw new InvalidOptionError(`${option} must be a string, got ${typeof value}`);
  if (value.includes('\0')) throw new InvalidOptionError(`${option} contains a NUL character, which the program would see as the end of the string`);
  return value;
}

/** Checks args, env and preopens; `prefix` is where the caller wrote them (`wasiOptions.`, or '' for a run's own options). */
export function checkWasiStrings(wasiOptions: WasiOptions, prefix = 'wasiOptions.'): void {
  const { args, env, preopens } = wasiOptions;
  if (args !== undefined) {
    if (!Array.isArray(args)) throw new InvalidOptionError(`${prefix}args must be an array of strings, got ${typeof args}`);
    for (const [i, arg] of args.entries()) cString(arg, `${prefix}args[${i}]`);
  }
  if (env !== undefined) {
    if (env === null || typeof env !== 'object' || Array.isArray(env)) throw new InvalidOptionError(`${prefix}env must be an object of strings`);
    for (const [key, value] of Object.entries(env)) {
      cString(key, `a ${prefix}env name`);
      if (key === '' || key.includes('=')) throw new InvalidOptionError(`${prefix}env name "${key}" must be non-empty and without "="`);
      cString(value, `${prefix}env["${key}"]`);
    }
  }
  if (preopens !== undefined) {
    if (preopens === null || typeof preopens !== 'object' || Array.isArray(preopens)) {
      throw new InvalidOptionError(`${prefix}preopens must be an object { guestPath: hostDirectory }`);
    }
    for (const [guest, host] of Object.entries(preopens)) {
      cString(guest, `a ${prefix}preopens guest path`);
      cString(host, `${prefix}preopens["${guest}"]`);
    }
  }
}

function checkWorkerOptions(options: unknown): WorkerOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('workerOptions must be an object { execArgv, env, resourceLimits }');
  checkKeys(options, ['execArgv', 'env', 'resourceLimits'], 'workerOptions');
  const { execArgv, env, resourceLimits } = options as WorkerOptions;
  if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== 'string'))) {
    throw new InvalidOptionError('workerOptions.execArgv must be an array of strings');
  }
  if (env !== undefined && (env === null || typeof env !== 'object' || Object.values(env).some((v) => typeof v !== 'string'))) {
    throw new InvalidOptionError('workerOptions.env must be an object of strings');
  }
  if (resourceLimits !== undefined) {
    if (resourceLimits === null || typeof resourceLimits !== 'object') throw new InvalidOptionError('workerOptions.resourceLimits must be an object');
    for (const [key, value] of Object.entries(resourceLimits)) {
      if (!['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'].includes(key)) {
        throw new InvalidOptionError(`workerOptions.resourceLimits.${key} is not one of Node's worker resource limits`);
      }
      if (typeof value !== 'number' || !(value > 0)) throw new InvalidOptionError(`workerOptions.resourceLimits.${key} must be a positive number of MB`);
    }
  }
  return { execArgv, env, resourceLimits };
}

/** A stdio fd must be a descriptor that is open in this process now. */
export function checkStdioFd(value: unknown, option: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw new InvalidOptionError(`${option} must be a file descriptor (a whole number), got ${JSON.stringify(value)}`);
  }
  try {
    fstatSync(value);
  } catch {
    throw new InvalidOptionError(`${option} is ${value}, which is not an open file descriptor of this process`);
  }
}

export function wholeNumber(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`${option} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Checks every option of `initWasiMain` and fills in the defaults; the module source is checked by the loader. */
export function resolveConfig(config: WasiMainConfig, where = 'the config of startWasiMain'): ResolvedConfig {
  if (config === null || typeof config !== 'object') {
    throw new InvalidOptionError('initWasiMain needs a config object');
  }
  const hasFile = config.wasmFile !== undefined;
  const hasModule = config.wasmModule !== undefined;
  if (hasFile === hasModule) {
    throw new InvalidOptionError(hasFile ? 'give either wasmFile or wasmModule, not both' : 'wasmFile or wasmModule is required: the wasm program to run');
  }
  if (hasModule && !(config.wasmModule instanceof WebAssembly.Module)) {
    throw new InvalidOptionError('wasmModule must be a WebAssembly.Module');
  }
  checkKeys(config, CONFIG_KEYS.main, where);
  const entryFile = config.entryFile === undefined ? LIBRARY_WORKER : scriptPath(config.entryFile, 'entryFile');
  const threadFile = config.threadFile === undefined ? entryFile : scriptPath(config.threadFile, 'threadFile');
  const initMethod = config.initMethod ?? '';
  if (typeof initMethod !== 'string') throw new InvalidOptionError('initMethod must be the name of an exported function');
  const namespace = config.namespace ?? `wasm_${randomBytes(6).toString('hex')}`;
  if (typeof namespace !== 'string' || namespace === '') throw new InvalidOptionError('namespace must be a non-empty string');

  if (config.growGuard !== undefined && typeof config.growGuard !== 'boolean') {
    throw new InvalidOptionError(`growGuard must be true or false, got ${typeof config.growGuard}`);
  }
  const maxThreads = wholeNumber(config.maxThreads ?? DEFAULTS.maxThreads, 'maxThreads', 1, LIMITS.maxThreads);
  const poolSize = wholeNumber(config.poolSize ?? Math.min(DEFAULTS.poolSize, maxThreads), 'poolSize', 0, LIMITS.poolSize);
  if (poolSize > maxThreads) {
    throw new InvalidOptionError(`poolSize (${poolSize}) cannot exceed maxThreads (${maxThreads}): idle workers beyond it could never run`);
  }

  const memorySetting = config.memorySetting;
  if (memorySetting !== undefined) {
    if (memorySetting === null || typeof memorySetting !== 'object') {
      throw new InvalidOptionError('memorySetting must be an object { initial, maximum } in 64 KiB pages');
    }
    checkKeys(memorySetting, CONFIG_KEYS.memorySetting, 'memorySetting');
    for (const key of ['initial', 'maximum'] as const) {
      if (memorySetting[key] !== undefined) wholeNumber(memorySetting[key], `memorySetting.${key}`, 1, LIMITS.memoryPages);
    }
  }

  const wasiOptions = config.wasiOptions ?? {};
  if (wasiOptions === null || typeof wasiOptions !== 'object') throw new InvalidOptionError('wasiOptions must be an object');
  checkKeys(wasiOptions, CONFIG_KEYS.wasiOptions, 'wasiOptions');
  checkWasiStrings(wasiOptions);
  for (const key of ['stdin', 'stdout', 'stderr'] as const) checkStdioFd(wasiOptions[key], `wasiOptions.${key}`);
  const version = wasiOptions.version ?? DEFAULTS.wasiVersion;
  if (version !== 'preview1' && version !== 'unstable') {
    throw new InvalidOptionError(`wasiOptions.version must be 'preview1' or 'unstable', got ${String(version)}`);
  }

  const wasiImplementation = config.wasiImplementation ?? (version === 'preview1' ? 'shared' : 'node');
  if (wasiImplementation !== 'shared' && wasiImplementation !== 'node') {
    throw new InvalidOptionError(`wasiImplementation must be 'shared' or 'node', got ${String(wasiImplementation)}`);
  }
  if (wasiImplementation === 'shared' && version !== 'preview1') {
    throw new InvalidOptionError(`the shared WASI implements preview1 only: use wasiImplementation: 'node' for wasiOptions.version '${version}'`);
  }

  return {
    entryFile,
    workerOptions: checkWorkerOptions(config.workerOptions),
    wasiImplementation,
    threadFile,
    initMethod,
    namespace,
    wasiOptions: { ...wasiOptions, args: wasiOptions.args ?? [], env: wasiOptions.env ?? {}, version },
    memorySetting,
    poolSize,
    maxThreads,
  };
}
