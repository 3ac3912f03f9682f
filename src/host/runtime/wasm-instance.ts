import { InvalidOptionError, RunAbortedError } from '../../base/errors.js';
import { type CallOptions, checkCallOptions } from '../../base/run-options.js';
import type { WasmMemory } from '../../base/wasm-types.js';
import type { FunctionType } from '../module/wasm-binary.js';
import type { Program } from '../program/program.js';
import type { ProgramStats } from '../program/types.js';
import { watchLimits } from './run-limits.js';

/** What an instance needs of its runtime. */
export interface InstanceOwner {
  /** Counts a promise a caller awaits until it settles (the runtime's workers keep the process alive meanwhile). */
  hold<T>(work: Promise<T>): Promise<T>;
  /** A caller was given `memory`: it is never passed on to another run. */
  handOut(memory: WasmMemory): void;
}

/**
 * Refuses, before anything reaches the instance, arguments that JS's conversion to the export's
 * parameters would throw on inside the worker (which ends the instance as a trap would): an i64
 * takes a bigint, an i32, f32 or f64 a number. With the signature known, every parameter must be
 * given, and exports with parameters `call()` cannot pass (v128, references) are refused.
 */
function checkArguments(name: string, args: unknown[], type: FunctionType | undefined): void {
  args.forEach((arg, i) => {
    if (typeof arg !== 'number' && typeof arg !== 'bigint') throw new InvalidOptionError(`argument ${i} of ${name} must be a number or a bigint`);
  });
  if (!type) return;
  const { params } = type;
  const signature = `${name}(${params.join(', ')})`;
  if (params.includes('other')) throw new InvalidOptionError(`${signature} takes a parameter that call() cannot pass (a v128 or a reference)`);
  if (args.length !== params.length) throw new InvalidOptionError(`${signature} takes ${params.length} argument(s); got ${args.length}`);
  params.forEach((param, i) => {
    const wanted = param === 'i64' ? 'bigint' : 'number';
    if (typeof args[i] !== wanted) throw new InvalidOptionError(`argument ${i} of ${signature} is an ${param}: pass a ${wanted}, not a ${typeof args[i]}`);
  });
}

/** A live instance of a reactor module (see `Runtime.instantiate`). */
export class WasmInstance {
  /** @internal Use runtime.instantiate(). */
  constructor(
    private readonly program: Program,
    /** The module's exported functions and their signatures when known (the runtime's one map). */
    private readonly functions: ReadonlyMap<string, FunctionType | undefined>,
    private readonly runtime: InstanceOwner,
  ) {}

  /**
   * The instance's shared memory, for passing bytes in and out of calls. A memory that was handed
   * out here is never passed on to another run or instance: after the instance ends, a handle the
   * caller kept reaches only this instance's own bytes.
   */
  get memory(): WasmMemory | undefined {
    const { memory } = this.program;
    if (memory) this.runtime.handOut(memory);
    return memory;
  }

  /** Calls the export `name` on the instance's main thread; resolves with what it returns. A trap ends the instance. */
  call(name: string, ...args: Array<number | bigint>): Promise<unknown> {
    return this.callWith({}, name, ...args);
  }

  /** `call` with a timeout or an abort signal: either ends the instance (its threads may be anywhere). */
  async callWith(options: CallOptions, name: string, ...args: Array<number | bigint>): Promise<unknown> {
    checkCallOptions(options);
    if (typeof name !== 'string' || !this.functions.has(name)) throw new InvalidOptionError(`"${String(name)}" is not a function the module exports`);
    checkArguments(name, args, this.functions.get(name));
    if (options.signal?.aborted) throw new RunAbortedError(options.signal.reason, `the call of ${name}`);
    const disarm = watchLimits(options, `the call of ${name}`, (error) => void this.program.abort(error));
    try {
      return await this.runtime.hold(this.program.call(name, args));
    } finally {
      disarm();
    }
  }

  stats(): ProgramStats {
    return this.program.stats();
  }

  /** Ends the instance; its workers go back to the runtime. */
  async destroy(): Promise<void> {
    await this.program.destroy();
  }
}
