/**
 * A shared memory as this thread can see it. When another thread grows the memory, V8 tells this
 * isolate through an interrupt that it handles later; until then this isolate's memory object (its
 * `buffer`) and, where V8 bounds-checks explicitly, its instances keep the old size. Seen: a
 * thread's first `fd_read` got EFAULT for an iovec in pages its spawner had just grown. `grow(0)`
 * makes this isolate look now: it updates the memory object and the instances.
 */
import type { WasmMemory } from '../base/wasm-types.js';

export const PAGE_BYTES = 65536;

/** The memory's buffer, covering at least `bytes` bytes if the memory has grown that far (in any thread). */
export function bufferCovering(memory: WasmMemory, bytes: number): ArrayBuffer | SharedArrayBuffer {
  const { buffer } = memory;
  if (bytes <= buffer.byteLength) return buffer;
  memory.grow(0);
  return memory.buffer;
}
