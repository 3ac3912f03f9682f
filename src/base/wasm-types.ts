/**
 * The WebAssembly types that the package's declarations name, declared here without the global
 * `WebAssembly` namespace: TypeScript declares that namespace only in its DOM lib, and a Node
 * project should not need the DOM lib to use this package. The real `WebAssembly.Module`,
 * `WebAssembly.Memory` and import objects are assignable to these; the library checks at run time
 * what it is given (`wasmModule` must be a `WebAssembly.Module`).
 */

/** A compiled `WebAssembly.Module`. */
export type WasmModule = object;

/** A `WebAssembly.Memory`. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(delta: number): number;
}

/** What `new WebAssembly.Memory(...)` takes. */
export interface WasmMemoryDescriptor {
  initial: number;
  maximum?: number;
  shared?: boolean;
}

/** An import object: module name -> field name -> value. */
export type WasmImports = Record<string, Record<string, unknown>>;
