/** Builds the WASI half of a thread's import object. Runs inside workers only. */

import type { WasmMemory } from '../base/wasm-types.js';
import { SharedControl } from '../shared/control/control.js';
import { layoutFor } from '../shared/control/layout.js';
import type { BootData, FdRequest, RunConfig, StdinRequest, WorkerMessage } from '../shared/messages.js';
import { fdOwnerVia } from '../wasi/fd-owner.js';
import { SharedWasi } from '../wasi/preview1.js';
import { stdinClientVia } from '../wasi/stdin-client.js';

/** The parts of a WASI object the library uses; `node:wasi` fits, and so do most userland WASI shims. */
export interface WasiLike {
  wasiImport?: Record<string, unknown>;
  getImportObject?(): Record<string, Record<string, unknown>>;
  // biome-ignore lint/suspicious/noConfusingVoidType: node:wasi's start() is typed to return nothing
  start?(instance: object): number | undefined | void;
  initialize?(instance: object): void;
}

/** Thrown from `proc_exit` to unwind the calling thread's wasm stack; the coordinator has been told already. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = 'ProcExit';
  }
}

/** node:wasi warns that it is experimental in every worker that loads it; once per process is plenty. */
function silenceWasiWarning(): void {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (/WASI/.test(text) && JSON.stringify(rest).includes('ExperimentalWarning')) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
}

type Post = (message: StdinRequest | FdRequest | Extract<WorkerMessage, { type: 'output' }>) => void;

/**
 * The shared WASI of one thread; a prepared run's threads get their config later, from
 * `fetchConfig` (given the run its control block serves then), and so do the threads of a later
 * run than the boot's (a runtime's kept pool worker, see `SharedWasi.rearm`).
 */
export function createSharedWasi(boot: BootData, post: Post, fetchConfig?: (run: number) => RunConfig): SharedWasi {
  const control = new SharedControl(boot.control, layoutFor(boot.slotCount));
  return new SharedWasi({
    config: boot.runConfig,
    fetchConfig: fetchConfig && (() => fetchConfig(control.threads.currentRun())),
    fdTable: boot.sharedWasi!.fdTable,
    stdin: stdinClientVia(post),
    owner: fdOwnerVia(post),
    // Threads' writes reach the coordinator through different ports: the number puts them back in
    // order. A write waits while too many bytes are on their way (see `OutputCredit.reserve`).
    output: (stream, bytes) => post({ type: 'output', stream, bytes, seq: control.output.reserve(bytes.byteLength), run: control.threads.currentRun() }),
  });
}

/** The WASI of one thread: the shared implementation when the program uses it, else a node:wasi. */
export async function createWasi(boot: BootData, post: Post): Promise<WasiLike> {
  const { wasiOptions, sharedWasi } = boot;
  if (sharedWasi) return createSharedWasi(boot, post);
  silenceWasiWarning();
  const { WASI } = await import('node:wasi');
  return new WASI({ ...wasiOptions, version: wasiOptions.version ?? 'preview1', returnOnExit: true }) as WasiLike;
}

/**
 * The WASI import namespaces of `wasi`, with `proc_exit` routed to `onExit`: `process.exit()` in a
 * worker would end only that worker, while proc_exit must end every thread of the program.
 */
export function wasiImports(wasi: WasiLike, onExit: (code: number) => void): Record<string, Record<string, unknown>> {
  const namespaces = wasi.getImportObject?.() ?? { wasi_snapshot_preview1: wasi.wasiImport ?? {} };
  const procExit = (code: number) => {
    onExit(code >>> 0);
    throw new ProcExit(code >>> 0);
  };
  const routed: Record<string, Record<string, unknown>> = {};
  for (const [name, functions] of Object.entries(namespaces)) routed[name] = { ...functions, proc_exit: procExit };
  return routed;
}

/**
 * Gives `wasi` the memory without running anything: node:wasi refuses to `initialize` a command
 * module, but accepts an object that only carries the memory.
 */
export function bindMemory(wasi: WasiLike, memory: WasmMemory): void {
  wasi.initialize?.({ exports: { memory } });
}
