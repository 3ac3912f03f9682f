// A runtime keeps the pool of a run that ended at rest for its next run on the same memory: the
// pool workers stay parked, do nothing for a run that spawns no thread, and never carry anything of
// one run into the next.
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/run-host.js';
import { useRuntimes } from '../helpers/runtimes.js';

const runtimeFor = useRuntimes();

describe('a pool kept from run to run', () => {
  it('a run that spawns no thread finds its whole pool parked from the run before, and starts only its main thread', async () => {
    const runtime = await runtimeFor('first_instruction', { poolSize: 4, maxConcurrentRuns: 1, preparedRuns: 1 });
    const runs = [];
    for (let i = 0; i < 40; i++) runs.push((await runtime.run({ stdout: 'buffer' })).stats);
    // The first runs were prepared before any run had ended: they booted pools of their own.
    const later = runs.slice(5);
    expect(later.map((stats) => stats.poolWorkersKept)).toEqual(later.map(() => 4));
    expect(later.map((stats) => stats.workersCreated)).toEqual(later.map(() => 1));
    // Four pool workers kept, and mains lent back and forth: nowhere near a pool started per run.
    expect(runtime.stats().workersCreated).toBeLessThan(16);
  });

  it('nothing of one run reaches the next through a kept pool worker: not its globals, table, descriptors or memory, over 60 runs', async () => {
    // kept_pool's thread looks for what the runs before it left in its instance (a global, a table
    // slot) and leaves the same for the next; _start looks for a descriptor the thread of an earlier
    // run left open and for its write to the memory. With poolSize 1 every run's thread goes to the
    // one pool worker the run before left parked. Each run prints "@" plus a bit a trace found.
    const runtime = await runtimeFor('kept_pool', { poolSize: 1, maxConcurrentRuns: 1, preparedRuns: 1 });
    const preopens = { '/data': tempDir('kept') };
    const outputs: string[] = [];
    let kept = 0;
    for (let i = 0; i < 60; i++) {
      const result = await runtime.run({ preopens, stdout: 'buffer' });
      expect(result.exitCode).toBe(0);
      outputs.push(result.stdout.toString());
      if (result.stats.poolWorkersKept === 1 && result.stats.warmSpawns === 1) kept++;
    }
    expect(outputs).toEqual(outputs.map(() => '@\n'));
    // The attack reached its target: most runs' thread ran on the worker of the run before (a run still refilling its pool at its end keeps none).
    expect(kept).toBeGreaterThan(40);
  });

  it('a run with a maxMemoryPages of its own keeps no pool: no run would take it, so its workers go back to the runtime', async () => {
    // spawn_join waits for its pool to boot (its two threads need it), so each run ends at rest.
    const runtime = await runtimeFor('spawn_join', { poolSize: 2, maxConcurrentRuns: 1, preparedRuns: 2 });
    for (let i = 0; i < 10; i++) expect((await runtime.run({ maxMemoryPages: 64, stdout: 'buffer' })).exitCode).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { liveWorkers, idleWorkers } = runtime.stats();
    // Lent: the two prepared runs' main and pool workers, and nothing held for runs that never come.
    expect(liveWorkers - idleWorkers).toBeLessThanOrEqual(2 * (1 + 2));
  });

  it('a run that ends while its threads still run keeps no pool: every run after it boots its own, and each exits as it should', async () => {
    // abnormal_end exit: a thread calls proc_exit(42) while two others spin and one waits; the
    // spinning workers can only be ended. Were their pool kept, the next run would hand a thread to
    // a worker still spinning in the last run's wasm (and hang) or find fewer workers than it has.
    const runtime = await runtimeFor('abnormal_end', { poolSize: 4, maxConcurrentRuns: 1, preparedRuns: 1 });
    const runs = [];
    for (let i = 0; i < 8; i++) runs.push(await runtime.run({ args: ['abnormal_end', 'exit'], stdout: 'buffer', stderr: 'buffer' }));
    expect(runs.map((run) => run.exitCode)).toEqual(runs.map(() => 42));
    expect(runs.map((run) => run.stats.poolWorkersKept)).toEqual(runs.map(() => 0));
  });
});
