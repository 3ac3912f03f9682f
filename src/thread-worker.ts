/**
 * The worker side: `initWasiWorker` instantiates the program in this worker and then either runs
 * the wasm main thread, or parks in the pool and runs every thread the ring hands this worker.
 */
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { ModuleRequirementError, WasiThreadsError } from './errors.js';
import { BOOT_KEY, errorInfo, type BootData, type ThreadRole, type WorkerMessage } from './protocol.js';
import { answerReply } from './reply-cell.js';
import { Header, SharedControl, layoutFor } from './ring.js';
import { coldSpawnVia, createThreadSpawn } from './spawn.js';
import { ProcExit, bindMemory, createWasi, wasiImports, type WasiLike } from './wasi-glue.js';
import type { WasmImports, WasmMemory, WasmModule } from './wasm-types.js';

/** What a worker's config function may return; every field is optional. */
export interface WorkerConfig {
  /** Extra import object entries, merged over the library's own. */
  wasmImports?: WasmImports;
  /** End the program (and all its threads) when the main entry returns. Default true. */
  destroyWhenEnd?: boolean;
  /** A WASI object of your own (node:wasi or a compatible shim) instead of the program's WASI. */
  wasi?: WasiLike;
  /** Do not run `_start` (nor `wasi.start`) on the main thread's instance. */
  noWasiStart?: boolean;
}

export type WorkerConfigFunction = (namespace: string, role: ThreadRole) => WorkerConfig | void | Promise<WorkerConfig | void>;

const MAIN_THREAD_ID = 0;

/** The ready-made worker script (`wasi-threads-wrapper/worker`), which has no config function. */
export const LIBRARY_WORKER = fileURLToPath(new URL('./worker-entry.js', import.meta.url));

export const NO_START = 'the module exports no _start: set initMethod to the function that runs the program';

function post(message: WorkerMessage): void {
  parentPort!.postMessage(message);
}

/** Blocks this worker for good; the coordinator is already ending the program and will terminate it. */
function halt(): never {
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

/** Reports how thread `tid` ended abnormally. proc_exit was reported when it was called. */
function reportAbnormalEnd(tid: number, error: unknown): never {
  if (!(error instanceof ProcExit)) post({ type: 'trap', tid, error: errorInfo(error) });
  halt();
}

function mergeImports(base: WasmImports, extra: WasmImports | undefined): WasmImports {
  const merged: WasmImports = { ...base };
  for (const [name, entries] of Object.entries(extra ?? {})) merged[name] = { ...merged[name], ...entries };
  return merged;
}

/** Runs inside every worker the library starts. Resolves (main thread) or parks for good (pool). */
export async function initWasiWorker(configFunc?: WorkerConfigFunction): Promise<void> {
  const boot = (workerData as Record<string, BootData> | null)?.[BOOT_KEY];
  if (!boot || !parentPort) {
    throw new WasiThreadsError(
      'ERR_WASI_THREADS_NOT_A_WORKER',
      'initWasiWorker() must run inside a worker started by initWasiMain(): call it in your entryFile when !isMainThread',
    );
  }
  const control = new SharedControl(boot.control, layoutFor(boot.slotCount));
  const tidOfThisWorker = { current: boot.role === 'main' ? MAIN_THREAD_ID : 0 };
  let instance: WebAssembly.Instance;
  let config: WorkerConfig;
  let wasi: WasiLike;
  let memory: WasmMemory | undefined;
  try {
    config = (await configFunc?.(boot.namespace, boot.role)) ?? {};
    wasi = config.wasi ?? (await createWasi(boot, post));
    memory = boot.memory ?? (boot.privateMemory && new WebAssembly.Memory(boot.privateMemory as WebAssembly.MemoryDescriptor));
    const spawn = createThreadSpawn(control, boot.maxThreads, coldSpawnVia(post));
    const onExit = (code: number) => post({ type: 'exit', tid: tidOfThisWorker.current, code });
    const imports: WasmImports = { ...wasiImports(wasi, onExit), wasi: { 'thread-spawn': spawn } };
    if (boot.memoryImport && memory) imports[boot.memoryImport.module] = { ...imports[boot.memoryImport.module], [boot.memoryImport.name]: memory };
    if (boot.role !== 'main') control.awaitMainInstantiated();
    instance = instantiate(boot.module, mergeImports(imports, config.wasmImports));
    if (boot.role === 'main') control.markMainInstantiated();
    memory ??= instance.exports.memory as WebAssembly.Memory | undefined;
    // A custom WASI that the user starts (or not) is left to the user.
    if (!config.wasi && memory) bindMemory(wasi, memory);
  } catch (error) {
    post({ type: 'fatal', error: errorInfo(error) });
    halt();
  }
  if (boot.role === 'main') runMainThread(boot, control, instance, config, wasi);
  else runPooledThreads(boot, control, instance, tidOfThisWorker);
}

function instantiate(module: WasmModule, imports: WasmImports): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(module as WebAssembly.Module, imports as WebAssembly.Imports);
  } catch (error) {
    if (error instanceof WebAssembly.LinkError) {
      throw new ModuleRequirementError(`the module cannot be linked: ${error.message} (check memorySetting against the module's memory limits, and wasmImports)`);
    }
    throw error;
  }
}

function runMainThread(boot: BootData, control: SharedControl, instance: WebAssembly.Instance, config: WorkerConfig, wasi: WasiLike): void {
  const exports = instance.exports as Record<string, unknown>;
  if (!boot.initMethod && !config.noWasiStart && !config.wasi?.start && typeof exports._start !== 'function') {
    // A module that cannot run as configured: not a trap of the program.
    post({ type: 'fatal', error: errorInfo(new ModuleRequirementError(NO_START)) });
    halt();
  }
  post({ type: 'ready' });
  // The program starts once the warm pool is parked, so its first spawns are warm.
  control.awaitPoolReady();
  let code = 0;
  try {
    if (boot.initMethod) {
      const result = (exports[boot.initMethod] as () => unknown)();
      if (typeof result === 'number') code = result;
    } else if (!config.noWasiStart) {
      if (config.wasi?.start) code = Number(config.wasi.start(instance) ?? 0);
      else (exports._start as () => void)();
    }
  } catch (error) {
    reportAbnormalEnd(MAIN_THREAD_ID, error);
  }
  post({ type: 'main-done', code, destroyWhenEnd: config.destroyWhenEnd ?? true });
}

function runPooledThreads(boot: BootData, control: SharedControl, instance: WebAssembly.Instance, current: { current: number }): void {
  const threadStart = instance.exports.wasi_thread_start as (tid: number, startArg: number) => void;
  if (boot.coldReply) {
    answerReply(boot.coldReply, control.assignedTid(boot.slot));
  } else {
    control.releaseSlot(boot.slot);
  }
  post({ type: 'ready' });
  for (;;) {
    control.awaitAssignment(boot.slot);
    const tid = control.assignedTid(boot.slot);
    current.current = tid;
    try {
      threadStart(tid, control.assignedStartArg(boot.slot));
    } catch (error) {
      reportAbnormalEnd(tid, error);
    }
    control.markIdle(boot.slot);
    const parks = control.incrementBelow(Header.PoolReserved, boot.poolSize) > 0;
    if (parks) {
      control.releaseSlot(boot.slot);
      control.add(Header.Returns, 1);
    }
    // Counted down only after the slot is back, so a spawn that passed the limit finds a worker.
    if (control.decrementAndNotify(Header.LiveThreads) === 1 && control.load(Header.LastThreadWatch) === 1) control.signalCoordinator();
    if (!parks) {
      post({ type: 'retire', slot: boot.slot });
      halt();
    }
  }
}
