// The handle API in this process: the library's ready-made worker script, and destroy().
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ProgramDestroyedError, startWasiMain } from '../src/index.js';
import { fixture } from '../fixtures/run-host.js';

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
