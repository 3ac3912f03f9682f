import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError, ModuleRequirementError, WasmLoadError } from '../../base/errors.js';
import { DEFAULTS, LIMITS, type MemorySetting, type WasiMainConfig } from '../../base/options.js';
import type { WasmMemory, WasmMemoryDescriptor, WasmModule } from '../../base/wasm-types.js';
import { createSharedMemory, type LocatedMemory } from '../../shared/memory-clear.js';
import { type GrowGuardReport, guardMemoryGrowth } from './grow-guard/grow-guard.js';
import { addInstanceReset, type InstanceResetReport } from './instance-reset.js';
import { type FunctionType, type MemoryImport, readExportedFunctionTypes, readMemoryImport } from './wasm-binary.js';

/** What the coordinator needs to know about the program before any worker starts. */
export interface LoadedProgram {
  module: WasmModule;
  /** True when the module imports `wasi.thread-spawn`. */
  threaded: boolean;
  /** True when the module exports `_start` (a WASI command). */
  hasStart: boolean;
  /** Where the memory goes in the import object, if the module imports one. */
  memoryImport?: { module: string; name: string };
  /** The memory every thread shares; absent for a single-threaded module that has no shared memory import. */
  memory?: WasmMemory;
  /** Where `memory`'s bytes are in this process, when known (see memory-clear.ts): a runtime's memories only. */
  memoryAddress?: number;
  /** Limits for a non-shared imported memory, which the main thread's worker creates itself. */
  privateMemory?: WasmMemoryDescriptor;
  /** Limits of `memory`, for another program of the same module (a runtime's next run). */
  memoryDescriptor?: WasmMemoryDescriptor;
  /** True when the module exports `_initialize` (a WASI reactor). */
  hasInitialize: boolean;
  /**
   * A reactor's exported functions' signatures (calls are checked against them), when the module
   * came as bytes: a compiled module does not reveal them.
   */
  exportTypes?: ReadonlyMap<string, FunctionType>;
  /** What the grow guard did to the module (grow-guard.ts). */
  growGuard: GrowGuardReport;
  /** Whether a kept worker can reset its instance for the next run (instance-reset.ts). */
  instanceReset: InstanceResetReport;
}

/**
 * A new memory for another program of the same module (a runtime's next run), located (see
 * memory-clear.ts); undefined for a module that makes no shared memory.
 */
export function freshMemory(loaded: LoadedProgram, maximum?: number): LocatedMemory | undefined {
  if (!loaded.memoryDescriptor) return undefined;
  const descriptor = { ...loaded.memoryDescriptor };
  if (maximum !== undefined) descriptor.maximum = maximum;
  return createSharedMemory(descriptor, true);
}

const PAGES_LIMIT = 65536;

async function readSource(source: NonNullable<WasiMainConfig['wasmFile']>): Promise<{ bytes: Uint8Array; label: string }> {
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), label: 'the wasmFile buffer' };
  if (ArrayBuffer.isView(source)) {
    return { bytes: new Uint8Array(source.buffer, source.byteOffset, source.byteLength), label: 'the wasmFile buffer' };
  }
  if (source instanceof URL && source.protocol !== 'file:') {
    throw new InvalidOptionError(`wasmFile must be a path, a file: URL or bytes; ${source.protocol} URLs are not fetched (got ${source.href})`);
  }
  const path = source instanceof URL ? fileURLToPath(source) : source;
  if (typeof path !== 'string' || path === '') {
    throw new InvalidOptionError('wasmFile must be a path, a file URL or a buffer');
  }
  return { bytes: await readWasmFile(path), label: `wasm file "${path}"` };
}

/**
 * Reads a wasm file: a regular file of at most LIMITS.wasmBytes. A device (`/dev/zero`), a FIFO or a
 * directory is refused before anything is read, and a file that grows while it is read is cut off
 * at the limit rather than read without end.
 */
async function readWasmFile(path: string): Promise<Uint8Array> {
  const fail = (why: string, cause?: unknown) => new WasmLoadError(`cannot read wasm file "${path}": ${why}`, cause);
  let file: FileHandle;
  try {
    // Non-blocking: opening a FIFO must not wait for a writer.
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fail((error as Error).message, error);
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw fail('not a regular file');
    if (stats.size > LIMITS.wasmBytes) throw fail(`${stats.size} bytes, more than the ${LIMITS.wasmBytes} a wasm module may have`);
    const bytes = new Uint8Array(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await file.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled);
  } catch (error) {
    if (error instanceof WasmLoadError) throw error;
    throw fail((error as Error).message, error);
  } finally {
    await file.close();
  }
}

/**
 * Compiles the module, rewritten by the grow guard unless `guard` is false. The module's own bytes
 * are compiled when the rewrite is not needed or not possible, and when the rewritten bytes do not
 * compile: an invalid module is then reported as it was given, and a rewrite the compiler refuses
 * (a bug of the rewriter) leaves the program unguarded rather than failing it, saying so in the report.
 */
async function compileGuarded(bytes: Uint8Array, label: string, guard: boolean): Promise<{ module: WebAssembly.Module; growGuard: GrowGuardReport }> {
  const compile = async (code: Uint8Array) => {
    try {
      return await WebAssembly.compile(code as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw new WasmLoadError(`${label} is not a valid WebAssembly module: ${(error as Error).message}`, error);
    }
  };
  if (!guard) return { module: await compile(bytes), growGuard: { status: 'off', sites: 0, helpers: 0 } };
  const guarded = guardMemoryGrowth(bytes);
  if (guarded.bytes === bytes) return { module: await compile(bytes), growGuard: guarded.report };
  try {
    return { module: await WebAssembly.compile(guarded.bytes as Uint8Array<ArrayBuffer>), growGuard: guarded.report };
  } catch (error) {
    const module = await compile(bytes);
    return { module, growGuard: { status: 'unsupported', reason: `the rewritten module did not compile (${(error as Error).message})`, sites: 0, helpers: 0 } };
  }
}

function chooseMemory(declared: MemoryImport | undefined, setting: MemorySetting | undefined, initialAsDeclared: boolean): WebAssembly.MemoryDescriptor {
  const low = declared?.initial ?? 1;
  const high = declared?.maximum ?? PAGES_LIMIT;
  const clamp = (pages: number) => Math.min(Math.max(pages, low), high);
  // A maximum below the default initial size lowers the initial size with it.
  const defaultInitial = initialAsDeclared && declared ? declared.initial : DEFAULTS.memory.initial;
  const initial = setting?.initial ?? clamp(Math.min(defaultInitial, setting?.maximum ?? PAGES_LIMIT));
  const maximum = setting?.maximum ?? Math.max(initial, clamp(DEFAULTS.memory.maximum));
  if (initial > maximum) {
    throw new InvalidOptionError(`memorySetting.initial (${initial} pages) is above memorySetting.maximum (${maximum} pages)`);
  }
  if (declared && initial < declared.initial) {
    throw new ModuleRequirementError(
      `memorySetting.initial is ${initial} pages but the module's memory import needs at least ${declared.initial}: raise it or leave it unset`,
    );
  }
  if (declared?.maximum !== undefined && maximum > declared.maximum) {
    throw new ModuleRequirementError(
      `memorySetting.maximum is ${maximum} pages but the module's memory import allows at most ${declared.maximum}: lower it or leave it unset`,
    );
  }
  return { initial, maximum };
}

/**
 * Reads, compiles and checks the program against the wasi-threads requirements. With
 * `initialAsDeclared`, a memory whose initial size is not set starts at the module's own minimum
 * (what a new instance gets in any engine) rather than at `DEFAULTS.memory.initial`. With
 * `locateMemory` (a runtime's), the memory is located (see memory-clear.ts) for cheaper clears.
 */
export async function loadProgram(
  config: WasiMainConfig,
  { initialAsDeclared = false, locateMemory = false, instanceReset: reset = false } = {},
): Promise<LoadedProgram> {
  let module: WebAssembly.Module;
  let bytes: Uint8Array | undefined;
  let growGuard: GrowGuardReport = { status: 'compiled', sites: 0, helpers: 0 };
  let instanceReset: InstanceResetReport = { status: 'off', globals: 0 };
  if (config.wasmModule) {
    module = config.wasmModule;
  } else {
    const source = await readSource(config.wasmFile!);
    bytes = source.bytes;
    const guard = config.growGuard ?? true;
    const resettable = reset ? addInstanceReset(bytes) : undefined;
    if (resettable) instanceReset = resettable.report;
    if (resettable && resettable.bytes !== bytes) {
      try {
        ({ module, growGuard } = await compileGuarded(resettable.bytes, source.label, guard));
      } catch (error) {
        // The reset's rewrite refused by the compiler (a bug of the rewriter), or an invalid module: the module as it was says which.
        ({ module, growGuard } = await compileGuarded(bytes, source.label, guard));
        instanceReset = { status: 'not-resettable', reason: `the rewritten module did not compile (${(error as Error).message})`, globals: 0 };
      }
    } else ({ module, growGuard } = await compileGuarded(bytes, source.label, guard));
  }

  const imports = WebAssembly.Module.imports(module);
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const threaded = imports.some((i) => i.module === 'wasi' && i.name === 'thread-spawn' && i.kind === 'function');
  const memoryEntry = imports.find((i) => i.kind === 'memory');

  if (threaded && !exports.has('wasi_thread_start')) {
    throw new ModuleRequirementError(
      'the module imports wasi.thread-spawn but does not export wasi_thread_start(tid, start_arg): link it with --export=wasi_thread_start',
    );
  }
  if (threaded && !memoryEntry) {
    throw new ModuleRequirementError('the module imports wasi.thread-spawn but does not import its memory: link it with --import-memory --shared-memory');
  }
  if (config.initMethod && !exports.has(config.initMethod)) {
    throw new ModuleRequirementError(`initMethod "${config.initMethod}" is not exported by the module`);
  }
  const hasStart = exports.has('_start');
  const hasInitialize = exports.has('_initialize');
  const exportTypes = !hasStart && bytes ? readExportedFunctionTypes(bytes) : undefined;
  const known = { module, threaded, hasStart, hasInitialize, exportTypes, growGuard, instanceReset };
  if (!memoryEntry) return known;

  // A compiled module does not reveal its memory limits; bytes do.
  const declared = bytes ? readMemoryImport(bytes) : undefined;
  if (threaded && declared && !declared.shared) {
    throw new ModuleRequirementError("the module's imported memory is not shared: link it with --shared-memory (and atomics enabled)");
  }
  const descriptor = chooseMemory(declared, config.memorySetting, initialAsDeclared);
  const memoryImport = { module: memoryEntry.module, name: memoryEntry.name };
  if (declared && !declared.shared) return { ...known, memoryImport, privateMemory: descriptor };
  const { memory, address } = createSharedMemory(descriptor, locateMemory);
  return { ...known, memoryImport, memory, memoryAddress: address, memoryDescriptor: descriptor };
}
