/**
 * The worker side: `initWasiWorker` instantiates the program in this worker and then either runs
 * the wasm main thread, or parks in the pool and runs every thread the ring hands this worker.
 */
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { layoutFor, SharedControl, SpinPolicy } from './control.js';
import { ModuleRequirementError, WasiThreadsError } from './errors.js';
import { WorkerCollector } from './garbage.js';
import { InboxReader } from './inbox.js';
import { clearMemory } from './memory-clear.js';
import { bufferCovering, PAGE_BYTES } from './memory-growth.js';
import { BOOT_KEY, type BootData, errorInfo, type InboxMessage, RUNTIME_KEY, type RuntimeWorkerData, type ThreadRole, type WorkerMessage } from './protocol.js';
import { answerReply } from './reply-cell.js';
import { coldSpawnVia, createThreadSpawn } from './spawn.js';
import type { SharedWasi } from './wasi/preview1.js';
import { bindMemory, createSharedWasi, createWasi, ProcExit, type WasiLike, wasiImports } from './wasi-glue.js';
import type { WasmImports, WasmModule } from './wasm-types.js';

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

// biome-ignore lint/suspicious/noConfusingVoidType: the seed's API: a config function may return nothing
export type WorkerConfigFunction = (namespace: string, role: ThreadRole) => WorkerConfig | void | Promise<WorkerConfig | void>;

const MAIN_THREAD_ID = 0;

/** The ready-made worker script (`wasi-threads-wrapper/worker`), which has no config function. */
export const LIBRARY_WORKER = fileURLToPath(new URL('./worker-entry.js', import.meta.url));

export const NO_START = 'the module exports no _start: set initMethod to the function that runs the program';

/** How a worker talks to its coordinator, and whether it outlives its program (a runtime's worker). */
interface WorkerLink {
  post(message: WorkerMessage): void;
  /** A runtime's worker: the next inbox message that `accept` takes (others are stale and dropped). */
  next?: (accept: (message: InboxMessage) => boolean) => InboxMessage;
}

/** Blocks this worker for good; the coordinator is already ending the program and will terminate it. */
function halt(): never {
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

/**
 * This worker is done with its program: a runtime's worker returns (every caller returns at once,
 * back to the loop that waits for the next program), any other waits to be ended.
 */
function leave(link: WorkerLink): void {
  if (!link.next) halt();
}

/** Reports how thread `tid` ended abnormally. proc_exit was reported when it was called. */
function reportAbnormalEnd(link: WorkerLink, tid: number, error: unknown): void {
  if (!(error instanceof ProcExit)) link.post({ type: 'trap', tid, error: errorInfo(error) });
  leave(link);
}

function mergeImports(base: WasmImports, extra: WasmImports | undefined): WasmImports {
  const merged: WasmImports = { ...base };
  for (const [name, entries] of Object.entries(extra ?? {})) merged[name] = { ...merged[name], ...entries };
  return merged;
}

/** Runs inside every worker the library starts. Resolves (main thread) or parks for good (pool). */
export async function initWasiWorker(configFunc?: WorkerConfigFunction): Promise<void> {
  const data = workerData as Record<string, unknown> | null;
  const runtime = data?.[RUNTIME_KEY] as RuntimeWorkerData | undefined;
  if (runtime && parentPort) return serveRuntime(runtime);
  const boot = data?.[BOOT_KEY] as BootData | undefined;
  if (!boot || !parentPort) {
    throw new WasiThreadsError(
      'ERR_WASI_THREADS_NOT_A_WORKER',
      'initWasiWorker() must run inside a worker started by initWasiMain(): call it in your entryFile when !isMainThread',
    );
  }
  const port = parentPort;
  const link: WorkerLink = { post: (message) => port.postMessage(message) };
  let config: WorkerConfig;
  let wasi: WasiLike;
  try {
    config = (await configFunc?.(boot.namespace, boot.role)) ?? {};
    wasi = config.wasi ?? (await createWasi(boot, link.post));
  } catch (error) {
    link.post({ type: 'fatal', error: errorInfo(error) });
    halt();
  }
  runProgram(boot, config, wasi, link);
}

/**
 * A runtime's worker: runs one program after another, each given by a `boot` in its inbox. Between
 * programs it holds nothing of the last one, and it waits for the next in its event loop, not
 * blocked, so that the tasks V8 and Node post to this thread (finalizers among them) get to run.
 */
async function serveRuntime({ inbox, outbox, collectEpoch }: RuntimeWorkerData): Promise<void> {
  const reader = new InboxReader(inbox);
  const next = (accept: (message: InboxMessage) => boolean) => reader.next(accept);
  const collector = new WorkerCollector(collectEpoch);
  const nextBoot = async (): Promise<BootData> => {
    // One turn of the event loop at least, even when the next boot is already there.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      const message = await reader.nextAsync((m) => m.type === 'boot' || m.type === 'collect');
      if (message.type === 'boot') return message.boot;
      collector.fullIfAsked();
    }
  };
  const link: WorkerLink = { post: (message) => outbox.postMessage(message), next };
  let after = 0;
  for (;;) {
    link.post({ type: 'free', after });
    // After saying so: the program's end need not wait for it.
    if (after !== 0) collector.afterProgram();
    const boot = await nextBoot();
    after = boot.run;
    serveProgram(boot, link);
  }
}

/** Runs one program in a runtime's worker (its own function: nothing of it stays in the loop's scope). */
function serveProgram(boot: BootData, link: WorkerLink): void {
  const next = link.next!;
  try {
    const fetchConfig = () => (next((m) => m.type === 'config' && m.run === boot.run) as Extract<InboxMessage, { type: 'config' }>).config;
    runProgram(boot, {}, createSharedWasi(boot, link.post, fetchConfig), link);
  } catch (error) {
    link.post({ type: 'fatal', error: errorInfo(error) });
  }
}

function runProgram(boot: BootData, config: WorkerConfig, wasi: WasiLike, link: WorkerLink): void {
  const control = new SharedControl(boot.control, layoutFor(boot.slotCount));
  const tidOfThisWorker = { current: boot.role === 'main' ? MAIN_THREAD_ID : 0 };
  let instance: WebAssembly.Instance;
  /** The program's memory once instantiated (imported, or exported by a module with its own). */
  let shared: WebAssembly.Memory | undefined;
  try {
    const memory = boot.memory ?? (boot.privateMemory && new WebAssembly.Memory(boot.privateMemory as WebAssembly.MemoryDescriptor));
    const spawn = createThreadSpawn(control, coldSpawnVia(link.post), boot.poolSize > 0, () => (shared ? shared.buffer.byteLength / PAGE_BYTES : 0));
    const onExit = (code: number) => link.post({ type: 'exit', tid: tidOfThisWorker.current, code });
    const imports: WasmImports = { ...wasiImports(wasi, onExit), wasi: { 'thread-spawn': spawn } };
    if (boot.memoryImport && memory) imports[boot.memoryImport.module] = { ...imports[boot.memoryImport.module], [boot.memoryImport.name]: memory };
    warmUp(config.wasi ? undefined : imports);
    if (boot.role !== 'main' && !control.awaitMainInstantiated()) return leave(link);
    // Every other instance waits for this one: nothing of the earlier run can be read past here.
    if (boot.clearMemory && memory) clearMemory(memory, boot.memoryAddress);
    instance = instantiate(boot.module, mergeImports(imports, config.wasmImports));
    if (boot.role === 'main') control.markMainInstantiated();
    const exported = instance.exports.memory as WebAssembly.Memory | undefined;
    shared = (memory ?? exported) as WebAssembly.Memory | undefined;
    // A custom WASI that the user starts (or not) is left to the user.
    if (!config.wasi && shared) bindMemory(wasi, shared);
  } catch (error) {
    link.post({ type: 'fatal', error: errorInfo(error) });
    return leave(link);
  }
  if (boot.role === 'main') runMainThread(boot, instance, config, wasi, link);
  else runPooledThreads(boot, control, instance, shared, tidOfThisWorker, link);
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
  if (warm) return;
  warm = true;
  const scratch = SharedControl.create(1, 1, { cores: 1 });
  const spawn = createThreadSpawn(scratch, () => -1);
  scratch.poolWorkersStarting(1);
  scratch.poolWorkerReady(0);
  spawn(0);
  scratch.awaitAssignment(0, new SpinPolicy());
  scratch.threadReturning();
  scratch.markIdle(0);
  scratch.releaseSlot(0);
  scratch.threadReturned();
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

function runMainThread(boot: BootData, instance: WebAssembly.Instance, config: WorkerConfig, wasi: WasiLike, link: WorkerLink): void {
  const exports = instance.exports as Record<string, unknown>;
  let reactor = false;
  if (boot.awaitGo && link.next) {
    link.post({ type: 'ready' });
    const go = link.next((m) => (m.type === 'go' || m.type === 'end') && m.run === boot.run);
    if (go.type !== 'go') return leave(link);
    (wasi as SharedWasi).configure(go.config);
    reactor = go.reactor;
  } else {
    if (!boot.initMethod && !config.noWasiStart && !config.wasi?.start && typeof exports._start !== 'function') {
      // A module that cannot run as configured: not a trap of the program.
      link.post({ type: 'fatal', error: errorInfo(new ModuleRequirementError(NO_START)) });
      return leave(link);
    }
    link.post({ type: 'ready' });
  }
  // The program starts now, while the pool may still be starting: a spawn that finds no idle
  // worker waits for the first pool worker to come up (see spawn.ts).
  if (reactor) return serveCalls(boot, exports, link);
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
    return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
  }
  link.post({ type: 'main-done', code, destroyWhenEnd: config.destroyWhenEnd ?? true });
}

/** A reactor instance's main thread: `_initialize` once, then the calls that come, one at a time. */
function serveCalls(boot: BootData, exports: Record<string, unknown>, link: WorkerLink): void {
  try {
    if (typeof exports._initialize === 'function') (exports._initialize as () => void)();
  } catch (error) {
    return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
  }
  link.post({ type: 'initialized' });
  for (;;) {
    const call = link.next!((m) => (m.type === 'call' || m.type === 'end') && m.run === boot.run);
    if (call.type !== 'call') return leave(link);
    let value: unknown;
    try {
      value = (exports[call.name] as (...args: unknown[]) => unknown)(...call.args);
    } catch (error) {
      return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
    }
    link.post({ type: 'call-done', id: call.id, value });
  }
}

function runPooledThreads(
  boot: BootData,
  control: SharedControl,
  instance: WebAssembly.Instance,
  memory: WebAssembly.Memory | undefined,
  current: { current: number },
  link: WorkerLink,
): void {
  const threadStart = instance.exports.wasi_thread_start as (tid: number, startArg: number) => void;
  if (boot.coldReply) answerReply(boot.coldReply, control.assignedTid(boot.slot));
  else control.poolWorkerReady(boot.slot);
  link.post({ type: 'ready' });
  const spin = new SpinPolicy();
  for (;;) {
    if (!control.awaitAssignment(boot.slot, spin)) return leave(link);
    const tid = control.assignedTid(boot.slot);
    current.current = tid;
    // The spawner may have grown the memory just before: this isolate looks now, not at V8's
    // interrupt, later (see memory-growth.ts).
    if (memory) bufferCovering(memory, control.assignedPages(boot.slot) * PAGE_BYTES);
    try {
      threadStart(tid, control.assignedStartArg(boot.slot));
    } catch (error) {
      return reportAbnormalEnd(link, tid, error);
    }
    // Back on the stack, whatever the pool's size: the coordinator trims a surplus that stays idle
    // (see Program.trimIdle), so a spawn+join loop never retires a worker only to start another.
    control.threadReturning();
    control.markIdle(boot.slot);
    if (boot.poolSize === 0) {
      // No pool at all: every thread gets a worker of its own (poolSize 0 is how to measure cold spawns).
      control.threadReturned();
      control.countThreadOut();
      link.post({ type: 'retire', slot: boot.slot });
      return leave(link);
    }
    control.rejoinPool(boot.slot);
    control.threadReturned();
    // Counted down only after the slot is back, so a spawn that passed the limit finds a worker.
    control.countThreadOut();
  }
}
