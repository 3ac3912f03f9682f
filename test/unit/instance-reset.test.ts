import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import wabtInit from 'wabt';
import { thirdPartyWasm } from '../../fixtures/third-party.js';
import { addInstanceReset } from '../../src/host/module/instance-reset.js';
import { RESET_EXPORT } from '../../src/shared/messages.js';
import { fixture } from '../helpers/run-host.js';

const wabt = await wabtInit();
const features = { threads: true, bulk_memory: true, reference_types: true };
const wat = (text: string) => {
  const module = wabt.parseWat('inline.wat', text, features);
  const bytes = module.toBinary({}).buffer;
  module.destroy();
  return bytes;
};
/** Compiles bytes (the rewrite's output is a plain Uint8Array over an ArrayBuffer). */
const compiled = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
const sharedMemory = () => new WebAssembly.Memory({ initial: 2, maximum: 16, shared: true });

/** reset_state.wasm, rewritten, instantiated on `memory` with imports that do nothing. */
function resetState(memory: WebAssembly.Memory) {
  const { bytes, report } = addInstanceReset(readFileSync(fixture('reset_state')));
  const instance = new WebAssembly.Instance(compiled(bytes), {
    wasi: { 'thread-spawn': () => 1 },
    wasi_snapshot_preview1: { fd_write: () => 0, clock_time_get: () => 0, args_sizes_get: () => 0, proc_exit: () => undefined },
    env: { memory },
  });
  const exports = instance.exports as Record<string, WebAssembly.Global | ((...args: number[]) => void)>;
  const value = (name: string) => (exports[name] as WebAssembly.Global).value as unknown;
  return { report, exports, value, reset: exports[RESET_EXPORT] as () => void };
}

describe('the load-time instance reset', () => {
  it('gives an instance back what instantiation gave it: its mutable globals, then its active data segments, then its start function', () => {
    const memory = sharedMemory();
    const { report, exports, value, reset } = resetState(memory);
    expect(report).toEqual({ status: 'added', globals: 6 });
    const bytes = new Uint8Array(memory.buffer);
    // The run's token, which _start writes before it spawns: the thread's instance has not seen it.
    new BigInt64Array(memory.buffer)[12296 / 8] = 7n;
    // As instantiated: the start function ran once, the active segment is in the memory.
    expect([value('seen'), value('wide'), value('real'), value('starts'), bytes[20000]]).toEqual([0, 0x123456789abcn, 2.5, 1, 42]);
    // The thread's entry leaves a trace in every global, and copies then drops the passive segment.
    (exports.wasi_thread_start as (tid: number, arg: number) => void)(1, 0);
    expect([value('seen'), value('wide'), value('real'), value('starts')]).toEqual([1, -1n, -0.5, 100]);
    bytes.fill(0);
    reset();
    expect([value('seen'), value('wide'), value('real'), value('starts'), bytes[20000]]).toEqual([0, 0x123456789abcn, 2.5, 1, 42]);
    // The segment it dropped copies again: data.drop is nops.
    (exports.wasi_thread_start as (tid: number, arg: number) => void)(1, 0);
    expect(new DataView(memory.buffer).getUint32(20008, true)).toBe(0x616e6574);
  });

  it('moves no index: the module has the same imports and exports, plus the reset, and its functions answer as before', () => {
    const input = readFileSync(fixture('reset_state'));
    const before = new WebAssembly.Module(input);
    const after = compiled(addInstanceReset(input).bytes);
    expect(WebAssembly.Module.imports(after)).toEqual(WebAssembly.Module.imports(before));
    expect(WebAssembly.Module.exports(after)).toEqual([...WebAssembly.Module.exports(before), { name: RESET_EXPORT, kind: 'function' }]);
  });

  it('resets a real third-party threaded binary (napi-rs oxc-parser, Rust for wasm32-wasip1-threads): its two mutable globals, and the result compiles', async () => {
    const input = thirdPartyWasm();
    const { bytes, report } = addInstanceReset(input);
    expect(report).toEqual({ status: 'added', globals: 2 });
    const after = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.imports(after)).toEqual(WebAssembly.Module.imports(new WebAssembly.Module(input as Uint8Array<ArrayBuffer>)));
    expect(WebAssembly.Module.exports(after).at(-1)).toEqual({ name: RESET_EXPORT, kind: 'function' });
  });

  it('resets a module without a start function, a global section or data, and reuses its [] -> [] type', () => {
    const input = wat(`(module (import "env" "memory" (memory 1 1 shared)) (func (export "_start")))`);
    const { bytes, report } = addInstanceReset(input);
    expect(report).toEqual({ status: 'added', globals: 0 });
    const instance = new WebAssembly.Instance(compiled(bytes), {
      env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) },
    });
    expect(() => (instance.exports[RESET_EXPORT] as () => void)()).not.toThrow();
  });

  it.each([
    [
      'changes a table',
      '(table 1 funcref) (func $f) (elem declare func $f) (func (export "_start") (table.set (i32.const 0) (ref.func $f)))',
      'an instruction of it changes a table',
    ],
    ['grows a table', '(table 1 funcref) (func (export "_start") (drop (table.grow (ref.null func) (i32.const 1))))', 'an instruction of it changes a table'],
    ['imports a mutable global', '(import "env" "g" (global (mut i32))) (func (export "_start"))', 'it imports a mutable global'],
    ['imports a table', '(import "env" "t" (table 1 funcref)) (func (export "_start"))', 'it imports a table'],
    ['exports the reset already', `(func (export "_start")) (func (export "${RESET_EXPORT}"))`, `it exports ${RESET_EXPORT} already`],
  ])('leaves a module that %s as it was, and says why', (_, body, reason) => {
    const input = wat(`(module (import "env" "memory" (memory 1 1 shared)) ${body})`);
    const result = addInstanceReset(input);
    expect(result.report).toEqual({ status: 'not-resettable', reason, globals: 0 });
    expect(result.bytes).toBe(input);
  });

  it('leaves a module that imports no memory as it was: no worker of it is kept from run to run', () => {
    const input = readFileSync(fixture('single_thread'));
    expect(addInstanceReset(input)).toEqual({ bytes: input, report: { status: 'not-needed', globals: 0 } });
  });
});
