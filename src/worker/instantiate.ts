/**
 * The program's instance in this worker: its imports (WASI, `thread-spawn`, the memory), the
 * instance made after the main thread's own (see `Threads.awaitMainInstantiated`), and then the
 * worker's role: the wasm main thread (main-thread.ts) or pooled threads (pool-thread.ts).
 */
import { ModuleRequirementError } from '../base/errors.js';
import { TRACE, trace } from '../base/trace.js';
import type { WasmImports, WasmModule } from '../base/wasm-types.js';
import { SharedControl } from '../shared/control/control.js';
import { layoutFor } from '../shared/control/layout.js';
import { SpinPolicy } from '../shared/control/slot-mailbox.js';
import { clearMemory } from '../shared/memory-clear.js';
import { PAGE_BYTES } from '../shared/memory-growth.js';
import { type BootData, errorInfo, MAIN_THREAD_ID, RESET_EXPORT } from '../shared/messages.js';
import { runMainThread } from './main-thread.js';
import { runPooledThreads, type ThreadInstance } from './pool-thread.js';
import { coldSpawnVia, createThreadSpawn } from './thread-spawn.js';
import { bindMemory, type WasiLike, wasiImports } from './wasi-imports.js';
import type { WorkerConfig } from './worker-config.js';
import { leave, type WorkerLink } from './worker-link.js';

function mergeImports(base: WasmImports, extra: WasmImports | undefined): WasmImports {
  const merged: WasmImports = { ...base };
  for (const [name, entries] of Object.entries(extra ?? {})) merged[name] = { ...merged[name], ...entries };
  return merged;
}

/** A runtime's worker that stays on its control block from one run to the next (worker/runtime-loop.ts): parked in the pool, or on the main seat. */
export interface LaterRuns {
  /** Readies the worker's WASI for a later run of the same control block (see `SharedWasi.rearm`). */
  rearmWasi(): void;
  /** After a thread of a run returned and its worker is back on the stack or its seat (its collections, see garbage.ts). */
  afterRun(): void;
}

/** Runs the program in this worker; `later`, for a runtime's worker, serves the later runs of a pool kept on the same control block. */
export function runProgram(boot: BootData, config: WorkerConfig, wasi: WasiLike, link: WorkerLink, later?: LaterRuns): void {
  const control = new SharedControl(boot.control, layoutFor(boot.slotCount));
  const tidOfThisWorker = { current: boot.role === 'main' ? MAIN_THREAD_ID : 0 };
  if (!warm) warmUp(config.wasi ? undefined : wasiImports(wasi, () => undefined));
  if (boot.role !== 'main' && !control.threads.awaitMainInstantiated()) return leave(link);
  // Every other instance waits for this one: nothing of the earlier run can be read past here.
  if (boot.clearMemory && boot.memory) clearMemory(boot.memory, boot.memoryAddress);
  const { make, renew } = instanceMaker(boot, config, wasi, link, control, tidOfThisWorker);
  const made = make();
  if (!made) return leave(link);
  if (boot.role === 'main') {
    const seated = later && {
      // The next run on the block: its memory zeroed, then the instance reset (or a new one on the same imports), whose WASI forgets the run before.
      prepare: () => {
        later.rearmWasi();
        if (boot.memory) clearMemory(boot.memory, boot.memoryAddress);
        return renew()?.instance;
      },
      afterRun: later.afterRun,
    };
    return runMainThread(boot, control, made.instance, config, wasi, link, seated);
  }
  const laterRuns = later && {
    // The instance reset (or a new one on the same imports), whose WASI forgets the run before.
    reinstantiate: () => {
      later.rearmWasi();
      return renew();
    },
    afterRun: later.afterRun,
  };
  runPooledThreads(boot, control, made, tidOfThisWorker, link, laterRuns);
}

/**
 * Makes the program's instances in this worker, bound to `wasi`: `make` a new one each call, on the
 * same imports (made at the first call); `renew`, for a later run on the same block, resets the
 * last instance made when the module allows it (host/module/instance-reset.ts), or makes a new one.
 * Each gives undefined when it failed (reported to the coordinator).
 */
function instanceMaker(
  boot: BootData,
  config: WorkerConfig,
  wasi: WasiLike,
  link: WorkerLink,
  control: SharedControl,
  tidOfThisWorker: { current: number },
): { make: () => ThreadInstance | undefined; renew: () => ThreadInstance | undefined } {
  /** The program's memory once instantiated (imported, or exported by a module with its own). */
  let shared: WebAssembly.Memory | undefined;
  // A start function runs while each thread's instance is made (or reset): a spawn from it could
  // only wait for a pool that waits for this very instance.
  const making = { making: true };
  let imports: WasmImports | undefined;
  let memory: WebAssembly.Memory | undefined;
  /** The instance made last (and reset since, if it was). */
  let last: ThreadInstance | undefined;
  const importsOnce = (): WasmImports => {
    memory = (boot.memory ?? (boot.privateMemory && new WebAssembly.Memory(boot.privateMemory as WebAssembly.MemoryDescriptor))) as
      | WebAssembly.Memory
      | undefined;
    const pages = () => (shared ? shared.buffer.byteLength / PAGE_BYTES : 0);
    const spawn = createThreadSpawn(control, coldSpawnVia(link.post), boot.poolSize > 0, pages, TRACE, making);
    const onExit = (code: number) => {
      if (TRACE) trace(`thread ${tidOfThisWorker.current} calls proc_exit(${code})`);
      link.post({ type: 'exit', tid: tidOfThisWorker.current, code });
    };
    const own: WasmImports = { ...wasiImports(wasi, onExit), wasi: { 'thread-spawn': spawn } };
    if (boot.memoryImport && memory) own[boot.memoryImport.module] = { ...own[boot.memoryImport.module], [boot.memoryImport.name]: memory };
    return mergeImports(own, config.wasmImports);
  };
  const failed = (error: unknown): undefined => {
    // A trap in the module's start function is the program's trap, not a failure of the worker.
    if (error instanceof WebAssembly.RuntimeError) link.post({ type: 'trap', tid: tidOfThisWorker.current, error: errorInfo(error) });
    else link.post({ type: 'fatal', error: errorInfo(error) });
    return undefined;
  };
  const make = (): ThreadInstance | undefined => {
    try {
      imports ??= importsOnce();
      making.making = true;
      const instance = instantiate(boot.module, imports);
      making.making = false;
      if (boot.role === 'main') control.threads.markMainInstantiated();
      const exported = instance.exports.memory as WebAssembly.Memory | undefined;
      shared = (memory ?? exported) as WebAssembly.Memory | undefined;
      // A custom WASI that the user starts (or not) is left to the user.
      if (!config.wasi && shared) bindMemory(wasi, shared);
      last = { instance, shared };
      return last;
    } catch (error) {
      return failed(error);
    }
  };
  const reset = (previous: ThreadInstance): ThreadInstance | undefined => {
    try {
      making.making = true;
      // Its mutable globals and active data segments as instantiation sets them, then its start function: a new instance's state, on the same memory.
      (previous.instance.exports[RESET_EXPORT] as () => void)();
      making.making = false;
      if (boot.role === 'main') control.threads.markMainInstantiated();
      control.threads.countReset();
      return previous;
    } catch (error) {
      return failed(error);
    }
  };
  return { make, renew: () => (boot.instanceReset && last ? reset(last) : make()) };
}

/** Runs once per isolate (a runtime's worker serves many programs). */
let warm = false;

/**
 * Runs the spawn path once on a scratch control block, and the library's WASI clock with a clock id
 * that does not exist (nothing is written), before the worker serves a program: V8 compiles a JS
 * function at its first call in each isolate, and a program's first spawn and its new thread's
 * first clock read paid for that (about 0.5 ms in all, measured), on top of the thread's wasm.
 */
function warmUp(imports: WasmImports | undefined): void {
  warm = true;
  const scratch = SharedControl.create(1, 1, { cores: 1 });
  const spawn = createThreadSpawn(
    scratch,
    () => -1,
    true,
    () => 0,
    false,
  );
  scratch.idle.poolWorkersStarting(1);
  scratch.idle.poolWorkerReady(0);
  spawn(0);
  scratch.slots.awaitAssignment(0, new SpinPolicy());
  scratch.idle.threadReturning();
  scratch.slots.markIdle(0);
  scratch.idle.release(0);
  scratch.idle.threadReturned();
  const clock = imports?.wasi_snapshot_preview1?.clock_time_get as ((id: number, precision: bigint, pointer: number) => number) | undefined;
  clock?.(-1, 0n, 0);
}

function instantiate(module: WasmModule, imports: WasmImports): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(module as WebAssembly.Module, imports as WebAssembly.Imports);
  } catch (error) {
    if (error instanceof WebAssembly.LinkError) {
      throw new ModuleRequirementError(
        `the module cannot be linked: ${error.message} (check memorySetting against the module's memory limits, and wasmImports)`,
      );
    }
    throw error;
  }
}
