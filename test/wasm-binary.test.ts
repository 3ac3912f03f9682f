import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixture } from '../fixtures/run-host.js';
import { readMemoryImport } from '../src/wasm-binary.js';

const read = (name: string) => readMemoryImport(readFileSync(fixture(name)));

describe('readMemoryImport', () => {
  it("reads the limits and sharing of a Zig program's memory import", () => {
    expect(read('counter')).toEqual({ module: 'env', name: 'memory', initial: 32, maximum: 4096, shared: true });
  });

  it('reads custom import names and tight limits', () => {
    expect(read('tight_memory')).toEqual({ module: '', name: 'mem', initial: 2, maximum: 3, shared: true });
  });

  it('tells a memory that is not shared', () => {
    expect(read('unshared_memory')).toMatchObject({ shared: false });
  });

  it('finds nothing in a module that defines its own memory', () => {
    expect(read('single_thread')).toBeUndefined();
    expect(read('own_memory')).toBeUndefined();
  });
});
