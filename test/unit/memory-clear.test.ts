import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLEAR_WASM, clearMemory, createSharedMemory, writtenBlocks } from '../../src/shared/memory-clear.js';

const linux = process.platform === 'linux';
const BLOCK = 4096;

describe('clearing a memory an earlier run left', () => {
  it('embeds what fixtures/wat/memory_clear.wat compiles to', () => {
    const built = readFileSync(fileURLToPath(new URL('../../fixtures/build/memory_clear.wasm', import.meta.url)));
    expect(Buffer.from(CLEAR_WASM, 'base64').equals(built)).toBe(true);
  });

  it.runIf(linux)('locates a new memory, and pagemap shows exactly the 4 KiB blocks written since, in pages grown too', () => {
    const { memory, address } = createSharedMemory({ initial: 5, maximum: 64 }, true);
    expect(address).toBeTypeOf('number');
    // The probe wrote 4 blocks picked at random; nothing else is written yet.
    const probe = writtenBlocks(address!, 80)!;
    expect(probe.length).toBeGreaterThanOrEqual(2);
    expect(probe.length).toBeLessThanOrEqual(8);
    const probed = blocksOf(probe);
    expect(probed.size).toBe(4);
    memory.grow(2);
    const bytes = new Uint8Array(memory.buffer);
    const written = [0, 1, 2, 17, 85, 111];
    for (const block of written) bytes[block * BLOCK + ((block * 37) % BLOCK)] = 1;
    expect(writtenBlocks(address!, 112)).toEqual(runsOf(new Set([...written, ...probed])));
  });

  it.runIf(linux)('zeroes every written block of a located memory, and looks only at those', () => {
    const { memory, address } = createSharedMemory({ initial: 8, maximum: 64 }, true);
    memory.grow(8);
    const bytes = new Uint8Array(memory.buffer);
    let seed = 12345;
    const dirty = new Set<number>();
    for (let i = 0; i < 40; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const at = seed % bytes.length;
      bytes[at] = (seed >>> 24) | 1;
      dirty.add(Math.floor(at / BLOCK));
    }
    // And the blocks of the probe that located the memory.
    for (const block of blocksOf(writtenBlocks(address!, 16 * 16)!)) dirty.add(block);
    const looked = clearMemory(memory, address);
    expect(bytes.every((b) => b === 0)).toBe(true);
    expect(looked).toBe(dirty.size);
  });

  it('zeroes every page of a memory it cannot locate, grown pages too', () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 16, shared: true });
    memory.grow(3);
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(7);
    expect(clearMemory(memory)).toBe(5 * 16);
    expect(bytes.every((b) => b === 0)).toBe(true);
  });

  it('makes one clearer instance a memory however often it clears it, and a new one for another memory, each clearing its own', () => {
    // A kept main thread worker clears the same memory before every run: an instance a clear was native garbage a run.
    const made: unknown[] = [];
    const Instance = WebAssembly.Instance;
    WebAssembly.Instance = new Proxy(Instance, {
      construct(target, args) {
        made.push(args);
        return Reflect.construct(target, args);
      },
    });
    try {
      const [a, b] = [1, 2].map(() => new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true }));
      for (let i = 0; i < 5; i++) {
        new Uint8Array(a!.buffer).fill(i + 1);
        clearMemory(a!);
        expect(new Uint8Array(a!.buffer).every((byte) => byte === 0)).toBe(true);
      }
      expect(made).toHaveLength(1);
      new Uint8Array(b!.buffer).fill(9);
      new Uint8Array(a!.buffer).fill(9);
      clearMemory(b!);
      expect(made).toHaveLength(2);
      expect(new Uint8Array(b!.buffer).every((byte) => byte === 0)).toBe(true);
      expect(new Uint8Array(a!.buffer).every((byte) => byte === 9)).toBe(true);
    } finally {
      WebAssembly.Instance = Instance;
    }
  });

  it.runIf(linux)('locates each of two memories made one after the other at its own address', () => {
    const a = createSharedMemory({ initial: 3, maximum: 8 }, true);
    const b = createSharedMemory({ initial: 3, maximum: 8 }, true);
    expect(a.address).toBeTypeOf('number');
    expect(b.address).toBeTypeOf('number');
    expect(a.address).not.toBe(b.address);
    const before = writtenBlocks(b.address!, 48);
    new Uint8Array(a.memory.buffer)[5 * BLOCK] = 1;
    expect(blocksOf(writtenBlocks(a.address!, 48)!).has(5)).toBe(true);
    expect(writtenBlocks(b.address!, 48)).toEqual(before);
  });
});

/** The blocks of [first, end) runs. */
function blocksOf(runs: number[]): Set<number> {
  const blocks = new Set<number>();
  for (let i = 0; i < runs.length; i += 2) for (let block = runs[i]!; block < runs[i + 1]!; block++) blocks.add(block);
  return blocks;
}

/** [first, end) runs of the blocks in `blocks`. */
function runsOf(blocks: Set<number>): number[] {
  const runs: number[] = [];
  for (const block of [...blocks].sort((x, y) => x - y)) {
    if (runs.length > 0 && runs[runs.length - 1] === block) runs[runs.length - 1] = block + 1;
    else runs.push(block, block + 1);
  }
  return runs;
}
