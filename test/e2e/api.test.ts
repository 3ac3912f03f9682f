// The handle API in this process: the library's ready-made worker script, and destroy().
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorCodesTable } from '../../src/base/errors.js';
import * as library from '../../src/index.js';
import { ProgramDestroyedError, startWasiMain } from '../../src/index.js';
import { fixture } from '../helpers/run-host.js';

const libraryWorker = fileURLToPath(import.meta.resolve('wasi-threads-wrapper/worker'));

describe('program handle', () => {
  it('runs with the ready-made worker script wasi-threads-wrapper/worker', async () => {
    const program = await startWasiMain({ entryFile: libraryWorker, wasmFile: fixture('abi'), poolSize: 1 });
    expect(await program.exited).toBe(0);
    expect(program.stats()).toMatchObject({ warmSpawns: 1, coldSpawns: 0 });
    expect(program.liveWorkers).toBe(0);
  });

  it('takes an entryFile relative to the current directory', async () => {
    const program = await startWasiMain({ entryFile: relative(process.cwd(), libraryWorker), wasmFile: fixture('abi'), poolSize: 1 });
    expect(await program.exited).toBe(0);
  });

  it('destroy() ends every worker while threads run, and exited rejects', async () => {
    // Waves of long-waiting threads, 10 s apart: still running when destroyed.
    const program = await startWasiMain({
      entryFile: libraryWorker,
      wasmFile: fixture('staggered'),
      wasiOptions: { args: ['staggered', '2', '3', '10000'] },
      poolSize: 3,
    });
    // Spawned, each on a worker of its own (a spawn counts its thread live before it has a worker).
    const spawned = () => program.stats().warmSpawns + program.stats().coldSpawns;
    while (spawned() < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(program.liveWorkers).toBeGreaterThanOrEqual(4);
    await program.destroy();
    expect(program.liveWorkers).toBe(0);
    await expect(program.exited).rejects.toBeInstanceOf(ProgramDestroyedError);
    await expect(program.exited).rejects.toThrow(/was destroyed before it ended/);
  });
});

describe('errors', () => {
  it('exports every error class errors.ts declares, and no other', () => {
    const exported = Object.entries(library)
      .filter(([, value]) => typeof value === 'function' && (value === library.WasiThreadsError || value.prototype instanceof library.WasiThreadsError))
      .map(([name]) => name);
    expect(exported.sort()).toEqual([...new Set(ERROR_CODES.map((entry) => entry.error))].sort());
  });

  it('gives each error the code its declaration says, and no two the same code', () => {
    const made: library.WasiThreadsError[] = [
      new library.InvalidOptionError('x'),
      new library.WasmLoadError('x'),
      new library.ModuleRequirementError('x'),
      new library.ThreadTrapError(1, { name: 'RuntimeError', message: 'unreachable' }),
      new library.WorkerFailedError('x'),
      new library.ProgramDestroyedError('p'),
      new library.RunTimeoutError(5),
      new library.RunAbortedError(undefined),
      new library.RuntimeClosedError(),
    ];
    for (const error of made) expect([error.name, error.code]).toEqual([error.name, ERROR_CODES.find((entry) => entry.error === error.name)!.code]);
    expect(new Set(ERROR_CODES.map((entry) => entry.code)).size).toBe(ERROR_CODES.length);
  });

  it("keeps the README's list of error codes as errors.ts generates it (npm run docs)", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = /<!-- error-codes -->\n([\s\S]*?)\n<!-- \/error-codes -->/.exec(readme);
    expect(section, 'README has no <!-- error-codes --> section').not.toBeNull();
    expect(section![1]).toBe(errorCodesTable());
  });
});
