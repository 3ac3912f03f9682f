/** What the coordinator hands each worker, and the messages workers send back (never the reverse). */

import type { MessagePort } from 'node:worker_threads';
import type { WasiOptions } from '../base/options.js';
import type { WasmMemory, WasmMemoryDescriptor, WasmModule } from '../base/wasm-types.js';
import type { ReplyCell } from './reply-cell.js';

/** A worker's requests to the descriptor owner on the main JS thread (wasi/fd-owner.ts serves them). */
export type FdRequest =
  | { type: 'path-open'; dirFd: number; path: string; follow: boolean; flags: number; reply: ReplyCell }
  | { type: 'fd-close'; hostFd: number };

/** A worker's requests for the run's relayed stdin (wasi/stdin-relay.ts serves them). */
export type StdinRequest = { type: 'stdin-read'; max: number; reply: ReplyCell } | { type: 'stdin-poll'; timeoutMs: number; reply: ReplyCell };

/** The worker's end of a runtime worker's inbox (shared/inbox.ts): its port and its doorbell word. */
export interface InboxEnd {
  port: MessagePort;
  doorbell: SharedArrayBuffer;
}

export type ThreadRole = 'main' | 'thread';

/** The wasm main thread's thread id (a spawned thread's is never 0). */
export const MAIN_THREAD_ID = 0;

/** Marks `workerData` as ours, so `initWasiWorker` can tell a library worker from any other. */
export const BOOT_KEY = '__wasiThreadsWrapperBoot';

/**
 * The export a runtime's module gets from the load-time instance reset (host/module/instance-reset.ts):
 * it gives an instance back the state a new instance would have (globals, active data segments, then the start function).
 */
export const RESET_EXPORT = 'wasi-threads-wrapper:reset';

/** What a run gives its program: the WASI's args, env and the guest names of its preopens (fd 3 on). */
export interface RunConfig {
  args: string[];
  env: Record<string, string>;
  preopens: string[];
}

export interface BootData {
  /** The program's number in its runtime (0 for a program of its own); tags its inbox messages. */
  run: number;
  namespace: string;
  role: ThreadRole;
  module: WasmModule;
  memory?: WasmMemory;
  privateMemory?: WasmMemoryDescriptor;
  memoryImport?: { module: string; name: string };
  control: SharedArrayBuffer;
  slotCount: number;
  /** The worker's slot; -1 for the wasm main thread. */
  slot: number;
  /** Set for a cold spawn: the worker stores the tid here once it is instantiated. */
  coldReply?: ReplyCell;
  wasiOptions: WasiOptions;
  /** Set for the shared WASI: the program's descriptor table and preopens. */
  sharedWasi?: { fdTable: SharedArrayBuffer };
  /**
   * The WASI's args, env and preopen names. Absent for a prepared run's workers, which get them
   * later: the main thread's with the seat's `Go` order, a pool worker's in a `config` message.
   */
  runConfig?: RunConfig;
  /** A runtime's prepared run: its main thread takes its orders on the main seat (shared/control/main-seat.ts) once it is instantiated. */
  awaitGo: boolean;
  /**
   * The module has RESET_EXPORT: a worker kept for a later run on the same block resets its instance
   * for that run instead of making a new one.
   */
  instanceReset: boolean;
  /** The main thread zeroes the memory (an earlier run's) before it is instantiated; no other thread touches it before. */
  clearMemory: boolean;
  /** Where the memory's bytes are in this process, when known: the clear zeroes only pages ever written (memory-clear.ts). */
  memoryAddress?: number;
  initMethod: string;
  poolSize: number;
  maxThreads: number;
}

/** Marks `workerData` of a runtime's worker, which runs one program after another. */
export const RUNTIME_KEY = '__wasiThreadsWrapperRuntime';

/** A runtime's worker: its inbox (read synchronously, see inbox.ts) and its outbox. */
export interface RuntimeWorkerData {
  inbox: InboxEnd;
  outbox: MessagePort;
  /** The runtime's collection epoch (garbage.ts). */
  collectEpoch: SharedArrayBuffer;
}

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export type WorkerMessage =
  /** Instantiated (and, for a pool worker, on the idle stack). */
  | { type: 'ready' }
  | { type: 'cold-spawn'; tid: number; startArg: number; reply: ReplyCell }
  | { type: 'exit'; tid: number; code: number }
  | { type: 'trap'; tid: number; error: ErrorInfo }
  | { type: 'main-done'; code: number; destroyWhenEnd: boolean }
  /** The pool was full when this worker's thread returned: the coordinator ends it and frees the slot. */
  /** The worker could not set up (bad config function, link error, missing entry). */
  | { type: 'retire'; slot: number }
  | { type: 'fatal'; error: ErrorInfo }
  | StdinRequest
  | FdRequest
  /**
   * A runtime's pool worker, parked through to a later run (`SharedControl.rearm`), asks for that
   * run's config when its WASI first needs it: it was not booted for that run, so none was sent.
   */
  | { type: 'config-request'; run: number }
  /** A runtime's worker is back in its loop, out of run `after` (0: new): it can be booted again. */
  | { type: 'free'; after: number }
  /** Output of the program on its relayed stdout (1) or stderr (2), written in run `run` (the run its thread's control block served then). */
  | { type: 'output'; stream: 1 | 2; bytes: Uint8Array; seq: number; run: number }
  /** A reactor instance ran `_initialize` and waits for calls. */
  | { type: 'initialized' }
  | { type: 'call-done'; id: number; value: unknown };

/**
 * What the coordinator sends a runtime's worker, through its inbox port (read synchronously with
 * `receiveMessageOnPort` once its doorbell word is notified: the worker is blocked, not in its event loop).
 */
export type InboxMessage =
  | { type: 'boot'; boot: BootData }
  /**
   * The run's config, for a pool worker that was booted before its run was given one, or that
   * asked for it, and for a main thread whose config did not fit the main seat's area.
   */
  | { type: 'config'; run: number; config: RunConfig }
  | { type: 'call'; run: number; id: number; name: string; args: unknown[] }
  /** The run ends while this reactor's main thread worker waits in its inbox for calls: leave it. */
  | { type: 'end'; run: number }
  /** To an idle worker: look at the collection epoch (garbage.ts). */
  | { type: 'collect' };

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack, code: (error as { code?: string }).code };
  }
  return { name: 'Error', message: String(error) };
}
