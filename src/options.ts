import { accessSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError } from './errors.js';

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

export interface WasiMainConfig {
  /** JS file run as the worker that hosts the wasm main thread; it calls `initWasiWorker()`. */
  entryFile: string | URL;
  /** JS file run by the workers that host spawned wasm threads. Default: `entryFile`. */
  threadFile?: string | URL;
  /** An exported function to call for the wasm main thread instead of `_start`. */
  initMethod?: string;
  /** Separates several programs in one process. Default: `'wasm_' + random id`. */
  namespace?: string;
  /** Path, file URL or bytes of the wasm program (exactly one of `wasmFile` / `wasmModule`). */
  wasmFile?: string | URL | ArrayBuffer | ArrayBufferView;
  /** An already compiled module (exactly one of `wasmFile` / `wasmModule`). */
  wasmModule?: WebAssembly.Module;
  /** The program's WASI: args, env, preopens, stdio. */
  wasiOptions?: WasiOptions;
  /**
   * `'shared'` (default for preview1): the library's WASI, one descriptor table for all threads and
   * no blocking host calls. `'node'`: a `node:wasi` per thread (each with its own descriptors).
   */
  wasiImplementation?: 'shared' | 'node';
  /** Shared memory size in pages. Default: 512 initial / 4096 maximum, kept within the module's declared limits. */
  memorySetting?: MemorySetting;
  /** Idle workers kept instantiated and parked, ready for a warm spawn. */
  poolSize?: number;
  /** Most threads alive at once (the main thread not counted); past it `thread-spawn` returns -EAGAIN. */
  maxThreads?: number;
}

export const DEFAULTS = {
  poolSize: 4,
  maxThreads: 64,
  memory: { initial: 512, maximum: 4096 },
  wasiVersion: 'preview1',
} as const;

/** Hard ceilings that keep a typo from starting thousands of workers. */
const LIMITS = { poolSize: 1024, maxThreads: 4096, memoryPages: 65536 } as const;

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
}

function scriptPath(value: unknown, option: string): string {
  if (value instanceof URL) value = fileURLToPath(value);
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionError(`${option} is required: the JS file the worker runs (it calls initWasiWorker())`);
  }
  try {
    accessSync(value, constants.R_OK);
  } catch {
    throw new InvalidOptionError(`${option} "${value}" cannot be read: give the path of an existing JS file`);
  }
  return value;
}

function wholeNumber(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`${option} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Checks every option of `initWasiMain` and fills in the defaults; the module source is checked by the loader. */
export function resolveConfig(config: WasiMainConfig): ResolvedConfig {
  if (config === null || typeof config !== 'object') {
    throw new InvalidOptionError('initWasiMain needs a config object');
  }
  const hasFile = config.wasmFile !== undefined;
  const hasModule = config.wasmModule !== undefined;
  if (hasFile === hasModule) {
    throw new InvalidOptionError(
      hasFile ? 'give either wasmFile or wasmModule, not both' : 'wasmFile or wasmModule is required: the wasm program to run',
    );
  }
  if (hasModule && !(config.wasmModule instanceof WebAssembly.Module)) {
    throw new InvalidOptionError('wasmModule must be a WebAssembly.Module');
  }
  const entryFile = scriptPath(config.entryFile, 'entryFile');
  const threadFile = config.threadFile === undefined ? entryFile : scriptPath(config.threadFile, 'threadFile');
  const initMethod = config.initMethod ?? '';
  if (typeof initMethod !== 'string') throw new InvalidOptionError('initMethod must be the name of an exported function');
  const namespace = config.namespace ?? `wasm_${randomBytes(6).toString('hex')}`;
  if (typeof namespace !== 'string' || namespace === '') throw new InvalidOptionError('namespace must be a non-empty string');

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
    for (const key of ['initial', 'maximum'] as const) {
      if (memorySetting[key] !== undefined) wholeNumber(memorySetting[key], `memorySetting.${key}`, 1, LIMITS.memoryPages);
    }
  }

  const wasiOptions = config.wasiOptions ?? {};
  if (wasiOptions === null || typeof wasiOptions !== 'object') throw new InvalidOptionError('wasiOptions must be an object');
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
