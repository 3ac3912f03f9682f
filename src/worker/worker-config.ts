/** What a worker script of the user's may configure (the seed's `initWasiWorker(configFunc)`). */
import type { WasmImports } from '../base/wasm-types.js';
import type { ThreadRole } from '../shared/messages.js';
import type { WasiLike } from './wasi-imports.js';

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
