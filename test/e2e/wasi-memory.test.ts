// The library's WASI and a memory that another thread grew: V8 tells each isolate of a shared
// memory's growth through an interrupt that the isolate handles later, and until then its
// `memory.buffer` has the old size. A WASI call must still reach the pages the program can use.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FdTable } from '../../src/wasi/fd-table.js';
import { SharedWasi } from '../../src/wasi/preview1.js';
import { fixture, runNode } from '../helpers/run-host.js';

const PAGE = 65536;

/** A memory as a thread sees it before it has handled another thread's grow: its buffer lags until grow(0). */
function laggingMemory(pages: number, grownPages: number) {
  const memory = new WebAssembly.Memory({ initial: grownPages, maximum: grownPages, shared: true });
  const stale = new SharedArrayBuffer(pages * PAGE);
  let caughtUp = false;
  return {
    get buffer() {
      return caughtUp ? memory.buffer : stale;
    },
    grow(delta: number) {
      caughtUp = true;
      return memory.grow(delta);
    },
    real: memory,
  };
}

function wasiOn(memory: object): Record<string, (...args: never[]) => number> {
  const wasi = new SharedWasi({
    config: { args: ['x'], env: {}, preopens: [] },
    fdTable: FdTable.create(() => undefined).buffer,
    stdin: { read: () => 0, poll: () => true },
    owner: { openBelow: () => -1, release: () => undefined },
  });
  wasi.initialize({ exports: { memory } });
  return wasi.wasiImport as never;
}

describe('WASI calls on memory another thread grew', () => {
  it('writes a result into pages this thread has not yet seen grow, instead of failing with EFAULT', () => {
    const memory = laggingMemory(1, 2);
    const wasi = wasiOn(memory);
    const pointer = PAGE + 64;
    // clock_time_get(REALTIME) writes 8 bytes at pointer, in the second page.
    expect((wasi.clock_time_get as (id: number, precision: bigint, pointer: number) => number)(0, 0n, pointer)).toBe(0);
    expect(new DataView(memory.real.buffer).getBigUint64(pointer, true)).toBeGreaterThan(0n);
  });

  it("still fails with EFAULT past the memory's real end", () => {
    const wasi = wasiOn(laggingMemory(1, 2));
    expect((wasi.clock_time_get as (id: number, precision: bigint, pointer: number) => number)(0, 0n, 2 * PAGE - 4)).toBe(21);
  });

  it("a thread's first fd_write on pages its spawner grew a moment before succeeds, 300 times in a row", async () => {
    const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    const result = await runNode([cli, 'run', '--pool', '1', fixture('grow_then_write')]);
    expect(result.stdout).toBe('.'.repeat(300));
    expect(result.status).toBe(0);
  });
});
