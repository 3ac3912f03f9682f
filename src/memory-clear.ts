/**
 * Zeroing a memory that an earlier run of a runtime left, before anything of the next run touches
 * it (its main thread does this before it instantiates), and the memories that make it cheap.
 *
 * A zeroed page costs little; a page touched for the first time costs a page fault, ~20 µs on the
 * VMs this was measured on (a 96-page memory: 23 ms to zero the first time, 0.1 ms after). Zeroing a
 * whole memory faults in every page its programs never touched: a program that grows its memory
 * each run (Zig's and many allocators take new pages rather than reuse) leaves mostly untouched
 * pages behind (thread stacks touched at their top), and zeroing them cost ~110 faults and ~2.5 ms
 * a run (primes: 126 faults a run against 13).
 *
 * So on Linux a memory the runtime makes is *located*: where its bytes are in this process's
 * address space. A clear then reads `/proc/self/pagemap` for that range and zeroes only the 4 KiB
 * pages that are present (or swapped out): a page of a private anonymous mapping that is neither
 * has never been written since the mapping was made, and reads as zeros. Where a memory cannot be
 * located for certain, or pagemap cannot be read, the whole memory is zeroed.
 *
 * Locating: of the mappings listed in `/proc/self/maps` after `new WebAssembly.Memory` and not
 * before, the private anonymous read-write ones of exactly the memory's initial size (V8 puts guard
 * regions on both sides of a shared memory's reservation, so it is never merged with another; a
 * V8 heap page another thread maps meanwhile may have the same size); then a probe: the one whose
 * last 4 KiB page was absent from pagemap and is present once this thread writes to that page of
 * the memory. A memory without exactly one such mapping is not located.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { PAGE_BYTES } from './memory-growth.js';
import type { WasmMemory, WasmMemoryDescriptor } from './wasm-types.js';

/**
 * `(module (import "env" "memory" (memory 0 65536 shared)) ...)` exporting `clear()` (every page),
 * `zeroBlocks(first, count)` (of `count` 4 KiB blocks from block `first`, zeroes those that hold
 * anything but zeros, and only reads the others) and `pages()` (`memory.size`). Its source is
 * `fixtures/wat/memory_clear.wat`; a test checks that this is what it compiles to.
 */
export const CLEAR_WASM =
  'AGFzbQEAAAABDQNgAABgAn9/AGAAAX8CEgEDZW52Bm1lbW9yeQIDAICABAMEAwABAgceAwVjbGVhcgAACnplcm9CbG9ja3MAAQVwYWdlcwACCrkBA0MBA38/ACEBAkADQCAAIAFPDQFBgIABIAEgAGtBgIABIAEgAGtJGyECIABBEHRBACACQRB0/AsAIAAgAmohAAwACwsLbgEEfyAAIQIgACABaiEDAkADQCACIANPDQEgAkEMdCEEIARBgCBqIQUCQANAIAQpAwAgBCkDCIRCAFINASAEQRBqIQQgBCAFSQ0ACyACQQFqIQIMAQsgAkEMdEEAQYAg/AsAIAJBAWohAgwACwsLBAA/AAs=';

const BLOCK = 4096;
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
function clearerOf(memory: WasmMemory): Clearer {
  module ??= new WebAssembly.Module(Buffer.from(CLEAR_WASM, 'base64'));
  return new WebAssembly.Instance(module, { env: { memory: memory as WebAssembly.Memory } }).exports as unknown as Clearer;
}

/**
 * Zeroes `memory`: with `address` (from `createLocatedMemory`), only the 4 KiB pages that pagemap
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

/** A new shared memory, located (see the top of this file) where this is Linux and it can be done for certain. */
export function createLocatedMemory(descriptor: WasmMemoryDescriptor): LocatedMemory {
  const before = process.platform === 'linux' ? mappings() : undefined;
  const memory = new WebAssembly.Memory({ ...(descriptor as WebAssembly.MemoryDescriptor), shared: true });
  const size = descriptor.initial * PAGE_BYTES;
  if (!before || size === 0) return { memory };
  const candidates = [...(mappings() ?? [])]
    .filter((line) => !before.has(line))
    .map(parseMapping)
    .filter((m) => m?.anonymousReadWrite && m.end - m.start === size)
    .map((m) => m!.start);
  const address = probe(memory, candidates, descriptor.initial * BLOCKS_PER_PAGE - 1);
  return address === undefined ? { memory } : { memory, address };
}

/**
 * Of the `candidates` (addresses of new mappings of the memory's size: another thread may have made
 * one too), the one whose block `block` was absent and is present once this thread writes to that
 * block of `memory`; undefined unless exactly one is.
 */
function probe(memory: WasmMemory, candidates: number[], block: number): number | undefined {
  const written = (address: number) => {
    const runs = writtenBlocks(address + block * BLOCK, 1);
    return runs === undefined ? undefined : runs.length > 0;
  };
  const untouched = candidates.filter((address) => written(address) === false);
  if (untouched.length === 0) return undefined;
  Atomics.store(new Int32Array(memory.buffer), (block * BLOCK) / 4, 0);
  const ours = untouched.filter((address) => written(address) === true);
  return ours.length === 1 ? ours[0] : undefined;
}

function mappings(): Set<string> | undefined {
  try {
    return new Set(readFileSync('/proc/self/maps', 'latin1').split('\n'));
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
