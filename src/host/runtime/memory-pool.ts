/**
 * A runtime's memories: each run has a memory of its own, and a memory an ended run left is passed
 * to a later run, which zeroes it before anything else touches it (shared/memory-clear.ts).
 *
 * Invariants:
 * - A memory is passed on only once every worker of its run has ended or left it (`runEnded`),
 *   never when a worker was left behind (it may still write into it), and never once a caller was
 *   given it (`handOut`: an instance's `memory`, which a caller may keep).
 * - A memory is passed on only to a run with the same maximum, and only while it grew by at most
 *   SPARE_GROWTH (memories cannot shrink).
 * - Every memory no run will have again is counted (`letGo`): only full collections give their
 *   address space back, and the runtime's collector asks for one once enough were let go.
 *
 * Reusing them matters: with a new memory per run, the process's address space grew by a memory's
 * whole reservation (~10 GB) every run and was not given back while the runtime's workers lived.
 */
import type { WasmMemory } from '../../base/wasm-types.js';
import type { LocatedMemory } from '../../shared/memory-clear.js';
import { PAGE_BYTES } from '../../shared/memory-growth.js';
import { freshMemory, type LoadedProgram } from '../module/module-loader.js';

/**
 * A memory passed on to a later run may have grown by at most this much: 64 pages (4 MiB), and at
 * most an eighth of the room between its initial size and its maximum. So a run starts with at
 * least seven eighths of the room a new memory gives. Memories cannot shrink, and many allocators
 * (Zig's, Rust's) take pages by growing the memory even when the pages below are free: memories
 * passed on unchecked grew with every run, until runs failed at the maximum (and each run's zeroing
 * took longer). Not passing on grown memories at all would make a new memory for nearly every run
 * of such programs, each a full collection's worth of garbage (garbage.ts).
 */
const SPARE_GROWTH_PAGES = 64;
const SPARE_GROWTH_OF_ROOM = 1 / 8;

export class MemoryPool {
  /** Memories of ended runs, by their maximum in pages (0: none), for the next runs. */
  private readonly spares = new Map<number, LocatedMemory[]>();
  private spareCount = 0;
  private firstMemoryUsed = false;
  private readonly handedOut = new WeakSet<WasmMemory>();
  /** Memories made for runs and instances. */
  created = 0;

  constructor(
    private readonly loaded: LoadedProgram,
    /** The most spares kept at once. */
    private readonly maxSpares: number,
    /** Counts a memory no run will have again (see `letGo`). */
    private readonly dropped: () => void,
  ) {}

  /** The runtime's memory limits in pages (absent for a module that makes its own memory). */
  get limits(): { initial: number; maximum?: number } | undefined {
    return this.loaded.memoryDescriptor as { initial: number; maximum?: number } | undefined;
  }

  /** A memory for the next run: a spare with its maximum (`reused`: its run zeroes it first), or a new one. */
  forRun(maximum: number | undefined): { memory: WasmMemory | undefined; address?: number; reused: boolean } {
    const spare = this.spares.get(maximum ?? 0)?.pop();
    if (spare) {
      this.spareCount--;
      return { ...spare, reused: true };
    }
    if (this.limits) this.created++;
    if (maximum === this.limits?.maximum && !this.firstMemoryUsed) {
      // The memory loadProgram made, for the first run with the runtime's maximum.
      this.firstMemoryUsed = true;
      return { memory: this.loaded.memory, address: this.loaded.memoryAddress, reused: false };
    }
    const fresh = freshMemory(this.loaded, maximum);
    return { memory: fresh?.memory, address: fresh?.address, reused: false };
  }

  /** A caller was given `memory`: it is never passed on to another run. */
  handOut(memory: WasmMemory): void {
    this.handedOut.add(memory);
  }

  /**
   * Every worker of the run that had `memory` (made with `maximum`) has ended or left it, except
   * `workersLeftBehind`. Kept for a later run, or let go.
   */
  runEnded(kept: LocatedMemory, maximum: number | undefined, workersLeftBehind: number, closed: boolean): void {
    if (workersLeftBehind > 0 || this.handedOut.has(kept.memory)) return this.letGo();
    if (!closed) this.keep(kept, maximum);
  }

  /**
   * A memory is kept for a later run while it grew by at most SPARE_GROWTH and the spares have
   * room; otherwise it is let go and a later run gets a new one.
   */
  private keep(kept: LocatedMemory, maximum: number | undefined): void {
    if (this.limits?.initial === undefined) return;
    if (!this.passable(kept.memory, maximum)) return this.letGo();
    if (this.spareCount >= this.maxSpares) {
      // Full: a memory with the runtime's maximum (what prepared runs take) displaces another.
      const other = [...this.spares].find(([max, spares]) => max !== (this.limits?.maximum ?? 0) && spares.length > 0);
      if (maximum !== this.limits?.maximum || !other) return this.letGo();
      other[1].pop();
      this.spareCount--;
      this.letGo();
    }
    const spares = this.spares.get(maximum ?? 0) ?? [];
    spares.push(kept);
    this.spares.set(maximum ?? 0, spares);
    this.spareCount++;
  }

  /**
   * Whether `memory` (made with `maximum`) may pass to a later run: it was never handed out, and it
   * grew by at most SPARE_GROWTH.
   */
  passable(memory: WasmMemory, maximum: number | undefined): boolean {
    const initial = this.limits?.initial;
    if (initial === undefined || this.handedOut.has(memory)) return false;
    // The size as this thread sees it, not grow(0): V8 broadcasts every grow of a shared memory,
    // grow(0) too, to each isolate that holds it, which wakes every worker parked on it (a kept
    // pool's among them) to update its instances. This thread has taken every grow of the ended
    // run by now (it handled the run's messages since), and a lagging view would only pass on a
    // memory a little larger than SPARE_GROWTH.
    const room = (maximum ?? initial) - initial;
    return memory.buffer.byteLength / PAGE_BYTES <= initial + Math.min(SPARE_GROWTH_PAGES, Math.floor(room * SPARE_GROWTH_OF_ROOM));
  }

  /**
   * A memory no run will have again. Every one counts: the memories of ended runs are given back
   * only by full collections in every isolate that held one, which garbage.ts asks for once enough
   * were let go; uncounted, the address space would grow by a memory's reservation a run.
   */
  private letGo(): void {
    this.dropped();
  }
}
