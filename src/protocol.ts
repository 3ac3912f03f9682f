/** What the coordinator hands each worker, and the messages workers send back (never the reverse). */
import type { WasiOptions } from './options.js';
import type { ReplyCell } from './reply-cell.js';
import type { FdRequest } from './wasi/fd-owner.js';
import type { StdinRequest } from './wasi/stdin-client.js';
import type { WasmMemory, WasmMemoryDescriptor, WasmModule } from './wasm-types.js';

export type ThreadRole = 'main' | 'thread';

/** Marks `workerData` as ours, so `initWasiWorker` can tell a library worker from any other. */
export const BOOT_KEY = '__wasiThreadsWrapperBoot';

export interface BootData {
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
  sharedWasi?: { fdTable: SharedArrayBuffer; preopens: string[] };
  initMethod: string;
  poolSize: number;
  maxThreads: number;
}

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export type WorkerMessage =
  /** Instantiated (and, for a pool worker, parked in the ring). */
  | { type: 'ready' }
  | { type: 'cold-spawn'; tid: number; startArg: number; reply: ReplyCell }
  | { type: 'exit'; tid: number; code: number }
  | { type: 'trap'; tid: number; error: ErrorInfo }
  | { type: 'main-done'; code: number; destroyWhenEnd: boolean }
  /** The pool was full when this worker's thread returned: the coordinator ends it and frees the slot. */
  | { type: 'retire'; slot: number }
  /** The worker could not set up (bad config function, link error, missing entry). */
  | { type: 'fatal'; error: ErrorInfo }
  | StdinRequest
  | FdRequest;

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack, code: (error as { code?: string }).code };
  }
  return { name: 'Error', message: String(error) };
}
