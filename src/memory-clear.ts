/**
 * Zeroes a shared memory with wasm's own `memory.fill` (bulk memory): about 5x faster than
 * `Uint8Array.fill` on a SharedArrayBuffer (measured: 32 MB in 1-2 ms against ~10 ms). A runtime's
 * next run does this to a memory an earlier run left, before any instance is made with it.
 */

/**
 * `(module (import "env" "memory" (memory 0 65536 shared)) (func (export "clear") ...))`: fills every
 * page with zeros, 1 GiB (16384 pages) per `memory.fill`, since a length is an i32.
 */
const CLEAR_WASM = 'AGFzbQEAAAABBAFgAAACEgEDZW52Bm1lbW9yeQIDAICABAMCAQAHCQEFY2xlYXIAAApFAUMBA38/ACEBAkADQCAAIAFPDQEgASAAa0GAgAEgASAAa0GAgAFJGyECIABBEHRBACACQRB0/AsAIAAgAmohAAwACwsL';

import type { WasmMemory } from './wasm-types.js';

let module: WebAssembly.Module | undefined;

export function clearMemory(memory: WasmMemory): void {
  module ??= new WebAssembly.Module(Buffer.from(CLEAR_WASM, 'base64'));
  const { clear } = new WebAssembly.Instance(module, { env: { memory: memory as WebAssembly.Memory } }).exports as { clear: () => void };
  clear();
}
