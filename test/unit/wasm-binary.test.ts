import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readExportedFunctionTypes, readMemoryImport } from '../../src/host/module/wasm-binary.js';
import { fixture } from '../helpers/run-host.js';

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

describe('readExportedFunctionTypes', () => {
  it("reads each exported function's signature, counting imported functions in the index space", () => {
    // The reactor fixture imports three functions, so its exports' indices start at 3.
    const types = readExportedFunctionTypes(readFileSync(fixture('reactor')))!;
    expect(types.get('add')).toEqual({ params: ['i32', 'i32'], results: ['i32'] });
    expect(types.get('add64')).toEqual({ params: ['i64', 'i64'], results: ['i64'] });
    expect(types.get('half')).toEqual({ params: ['f64'], results: ['f64'] });
    expect(types.get('_initialize')).toEqual({ params: [], results: [] });
    expect(types.get('wasi_thread_start')).toEqual({ params: ['i32', 'i32'], results: [] });
    expect(types.has('memory')).toBe(false);
  });

  it('gives up, rather than guess, on a type encoding it does not know (a typed reference)', () => {
    // magic, version, then a type section: one function type taking (ref func), returning nothing.
    const bytes = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 6, 1, 0x60, 1, 0x64, 0x70, 0);
    expect(readExportedFunctionTypes(bytes)).toBeUndefined();
  });
});
