/**
 * Zeroing a memory that an earlier run of a runtime left, before anything of the next run touches
 * it (its main thread does this before it instantiates), and the memories that make it cheap.
 *
 * A zeroed page costs little; a page touched for the first time costs a page fault, ~20 µs on the
 * VMs this was measured on (a 96-page memory: 23 ms to zero the first time, 0.1 ms after). Zeroing a
 * whole memory faults in every page its programs never touched: a program that grows its memory
 * each run (Zig's and many allocators take new pages rather than reuse) leaves mostly untouched
 * pages behind (a 64 KiB page taken for a small allocation, the part of a stack never reached),
 * and zeroing them cost ~85 faults and ~2 ms a run (primes 1 1000 back to back: 125 page faults a
 * run, 37-40 with the clear below).
 *
 * So on Linux a memory the runtime makes is *located*: where its bytes are in this process's
 * address space. A clear then reads `/proc/self/pagemap` for that range and zeroes only the 4 KiB
 * pages that are present (or swapped out): a page of a private anonymous mapping that is neither
 * has never been written since the mapping was made, and reads as zeros. Where a memory cannot be
 * located for certain, or pagemap cannot be read, the whole memory is zeroed.
 *
 * Locating: this thread writes to a few 4 KiB blocks of the new memory picked at random (no other
 * thread has the memory yet), then reads pagemap for each private anonymous read-write mapping in
 * `/proc/self/maps` of exactly the memory's initial size. The memory's own mapping is the one
 * whose present blocks are exactly those; a memory without exactly one such mapping is not
 * located. (A mapping of another memory, or a V8 heap page of the same size, would need exactly
 * the same random blocks present and no others.)
 */
import { randomInt } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { WasmMemory, WasmMemoryDescriptor } from '../base/wasm-types.js';
import { PAGE_BYTES } from './memory-growth.js';

/**
 * `(module (import "env" "memory" (memory 0 65536 shared)) ...)` exporting `clear()` (every page),
 * `zeroBlocks(first, count)` (of `count` 4 KiB blocks from block `first`, zeroes those that hold
 * anything but zeros, and only reads the others) and `pages()` (`memory.size`). Its source is
 * `fixtures/wat/memory_clear.wat`; a test checks that this is what it compiles to.
 */
export const CLEAR_WASM =
  'AGFzbQEAAAABDQNgAABgAn9/AGAAAX8CEgEDZW52Bm1lbW9yeQIDAICABAMEAwABAgceAwVjbGVhcgAACnplcm9CbG9ja3MAAQVwYWdlcwACCrkBA0MBA38/ACEBAkADQCAAIAFPDQFBgIABIAEgAGtBgIABIAEgAGtJGyECIABBEHRBACACQRB0/AsAIAAgAmohAAwACwsLbgEEfyAAIQIgACABaiEDAkADQCACIANPDQEgAkEMdCEEIARBgCBqIQUCQANAIAQpAwAgBCkDCIRCAFINASAEQRBqIQQgBCAFSQ0ACyACQQFqIQIMAQsgAkEMdEEAQYAg/AsAIAJBAWohAgwACwsLBAA/AAs=';

const BLOCK = 4096;
/** 4 KiB blocks a new memory is probed with (see `createSharedMemory`). */
const PROBE_BLOCKS = 4;
const BLOCKS_PER_PAGE = PAGE_BYTES / BLOCK;
/** pagemap entries read at once (64 KiB of them). */
const ENTRIES_PER_READ = 8192;

/** A memory, and where its bytes start in this process when that is known for certain. */
export interface LocatedMemory {
  memory: WasmMemory;
  address?: number;
}

interface Clearer {
  clear(): void;
  zeroBlocks(first: number, count: number): void;
  pages(): number;
}

let module: WebAssembly.Module | undefined;
/**
 * Each memory's clearer in this thread, for as long as the memory lives (a WeakMap's value does not
 * keep its key alive): a kept main thread worker clears the same memory before each run, and an
 * instance a clear was native garbage a run, which only a full collection gives back (garbage.ts).
 */
const clearers = new WeakMap<WasmMemory, Clearer>();
function clearerOf(memory: WasmMemory): Clearer {
  let clearer = clearers.get(memory);
  if (!clearer) {
    module ??= new WebAssembly.Module(Buffer.from(CLEAR_WASM, 'base64'));
    clearer = new WebAssembly.Instance(module, { env: { memory: memory as WebAssembly.Memory } }).exports as unknown as Clearer;
    clearers.set(memory, clearer);
  }
  return clearer;
}

/**
 * Zeroes `memory`: with `address` (from `createSharedMemory`), only the 4 KiB pages that pagemap
 * shows present or swapped out, and of those only the ones not already zeros (a page a program
 * only read may be the kernel's shared zero page: writing it would fault); otherwise (or when
 * pagemap cannot be read) every page. Returns the number of 4 KiB pages looked at. No other thread
 * may touch the memory meanwhile.
 */
export function clearMemory(memory: WasmMemory, address?: number): number {
  const clearer = clearerOf(memory);
  const blocks = clearer.pages() * BLOCKS_PER_PAGE;
  const dirty = address === undefined ? undefined : writtenBlocks(address, blocks);
  if (!dirty) {
    clearer.clear();
    return blocks;
  }
  let looked = 0;
  for (let i = 0; i < dirty.length; i += 2) {
    clearer.zeroBlocks(dirty[i]!, dirty[i + 1]! - dirty[i]!);
    looked += dirty[i + 1]! - dirty[i]!;
  }
  return looked;
}

let entries: Uint32Array | undefined;

/**
 * The runs of 4 KiB blocks of `[address, address + blocks * 4096)` that are present in memory or
 * swapped out, as [first, end) pairs of block numbers; undefined if pagemap cannot be read in full.
 */
export function writtenBlocks(address: number, blocks: number): number[] | undefined {
  let fd: number;
  try {
    fd = openSync('/proc/self/pagemap', 'r');
  } catch {
    return undefined;
  }
  try {
    const runs: number[] = [];
    // One buffer for this thread's reads: a new one each time would be new pages to fault in.
    entries ??= new Uint32Array(ENTRIES_PER_READ * 2);
    const bytes = new Uint8Array(entries.buffer);
    let open = -1;
    for (let done = 0; done < blocks; ) {
      const count = Math.min(ENTRIES_PER_READ, blocks - done);
      const wanted = count * 8;
      let got = 0;
      while (got < wanted) {
        const n = readSync(fd, bytes, got, wanted - got, (address / BLOCK + done) * 8 + got);
        if (n <= 0) return undefined;
        got += n;
      }
      for (let i = 0; i < count; i++) {
        // Bit 63: present; bit 62: swapped out (the high word of a little-endian 64-bit entry).
        const written = entries[i * 2 + 1]! >>> 30 !== 0;
        if (written && open < 0) open = done + i;
        else if (!written && open >= 0) {
          runs.push(open, done + i);
          open = -1;
        }
      }
      done += count;
    }
    if (open >= 0) runs.push(open, blocks);
    return runs;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * A new shared memory; with `locate` (a runtime's memories), located (see the top of this file)
 * where this is Linux and it can be done for certain.
 */
export function createSharedMemory(descriptor: WasmMemoryDescriptor, locate: boolean): LocatedMemory {
  const memory = new WebAssembly.Memory({ ...(descriptor as WebAssembly.MemoryDescriptor), shared: true });
  const blocks = descriptor.initial * BLOCKS_PER_PAGE;
  if (!locate || process.platform !== 'linux' || blocks < PROBE_BLOCKS * 4) return { memory };
  const candidates = (mappings() ?? []).map(parseMapping).filter((m) => m?.anonymousReadWrite && m.end - m.start === blocks * BLOCK);
  if (candidates.length === 0) return { memory };
  // The probe: blocks picked at random, written in this memory, which no other thread has yet.
  const probe = new Set<number>();
  while (probe.size < PROBE_BLOCKS) probe.add(randomInt(blocks));
  const words = new Int32Array(memory.buffer);
  for (const block of probe) Atomics.store(words, (block * BLOCK) / 4, 0);
  const expected = [...probe].sort((x, y) => x - y).flatMap((block) => [block, block + 1]);
  const ours = candidates.filter((m) => sameRuns(writtenBlocks(m!.start, blocks), expected));
  return ours.length === 1 ? { memory, address: ours[0]!.start } : { memory };
}

/** Whether `runs` (from `writtenBlocks`) are exactly the single blocks of `expected` (adjacent ones merged). */
function sameRuns(runs: number[] | undefined, expected: number[]): boolean {
  if (!runs) return false;
  const merged: number[] = [];
  for (let i = 0; i < expected.length; i += 2) {
    if (merged.length > 0 && merged[merged.length - 1] === expected[i]) merged[merged.length - 1] = expected[i + 1]!;
    else merged.push(expected[i]!, expected[i + 1]!);
  }
  return runs.length === merged.length && runs.every((value, i) => value === merged[i]);
}

function mappings(): string[] | undefined {
  try {
    return readFileSync('/proc/self/maps', 'latin1').split('\n');
  } catch {
    return undefined;
  }
}

/** `start-end perms offset dev inode [path]` */
function parseMapping(line: string): { start: number; end: number; anonymousReadWrite: boolean } | undefined {
  const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
  if (!m) return undefined;
  return { start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), anonymousReadWrite: m[3] === 'rw-p' && m[4] === '0' && m[5] === '' };
}
