/**
 * A runtime's pool passing from one run to the next on the same memory (`KeptPool`), the program's
 * side: the control block a run gets, and the pool (with the main thread's worker, on its seat) a
 * run that ended at rest gives away.
 *
 * Nothing of one run can reach the next through what passes: the control block is rearmed for the
 * new run (`SharedControl.rearm`) before any worker of it starts, the descriptor table is emptied
 * at the old run's end, the memory is zeroed before the new main thread's instance is made, and each
 * kept worker resets its instance (or makes a new one) and its WASI before it runs a thread of the new run
 * (worker/pool-thread.ts, worker/main-thread.ts). Only a run that ended at rest gives its pool away: an exit code, no
 * thread alive, every pool worker parked and none starting or on its way back, so no thread of the
 * old run is left to spawn, write or hold a descriptor.
 */
import type { ResolvedConfig } from '../../base/options.js';
import { SharedControl } from '../../shared/control/control.js';
import type { ProgramWorkers } from './program-workers.js';
import type { KeptPool, PoolKeeper } from './types.js';

/**
 * Waits, without blocking, until no thread of the run is alive or `deadline` (a `performance.now()`)
 * has passed. Threads cannot be added meanwhile: the run is ending, so every spawn is refused.
 */
async function threadsCountedOut(control: SharedControl, deadline: number): Promise<void> {
  // Set before looking at LiveThreads: either we see 0 or the last thread signals.
  control.events.watchLastThread();
  for (;;) {
    const seen = control.events.current();
    const left = deadline - performance.now();
    if (control.threads.live() === 0 || left <= 0) return;
    const wait = control.events.waitFor(seen, left);
    if (wait.async) await wait.value;
  }
}

/**
 * Until `deadline` at most (the end's RETURN_GRACE_MS, program-workers.ts): what a run that ended
 * with an exit code still does on its way to rest, so that its pool can pass on. The main thread's
 * entry returns (or exits) as soon as it has joined its threads, while a joined thread's worker
 * counts itself out a moment after its wasm returned: without this, 3% of `spawn_join`'s runs
 * (poolSize 4, back to back, Node 20) ended with a thread not yet counted out, let their pool go,
 * and the next run booted a new one (five workers' programs, and their garbage). And, when the
 * main thread called proc_exit, its worker unwinding to its seat (`mainSeated` settles once it
 * says so).
 */
async function comeToRest(control: SharedControl, mainSeated: Promise<void> | undefined, deadline: number): Promise<void> {
  if (control.threads.live() !== 0) await threadsCountedOut(control, deadline);
  if (!mainSeated) return;
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - performance.now()))));
  await Promise.race([mainSeated, graceOver]);
  clearTimeout(timer);
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** The control block of run `run`: the kept pool's, rearmed, or a new one. */
export function controlFor(config: ResolvedConfig, run: number, kept: KeptPool | undefined): SharedControl {
  if (kept) {
    kept.control.rearm(run);
    return kept.control;
  }
  // Slots for every thread that may live at once, a full idle pool beside them, and as many again
  // for workers whose thread has returned and who are on their way back or out (a retiring
  // worker holds its slot until its message is handled here).
  const slotCount = 2 * config.maxThreads + config.poolSize;
  return SharedControl.create(slotCount, config.maxThreads, { run });
}

/**
 * At the end of a run that ended with an exit code, once what is on its way to rest came to rest
 * (`comeToRest`, until `deadline`): gives its pool to `keeper` if the run is at rest and the keeper
 * wants one; those workers (and the main thread's, if it waits on its seat: its entry returned or
 * exited) then leave the program as they are, not recalled. `fdTable` is the run's descriptor
 * table, which goes with them (emptied by the caller).
 */
export async function offerPool(
  keeper: PoolKeeper,
  control: SharedControl,
  workers: ProgramWorkers,
  fdTable: SharedArrayBuffer,
  mainSeated: { promise: Promise<void> } | undefined,
  deadline: number,
): Promise<KeptPool | undefined> {
  await comeToRest(control, mainSeated?.promise, deadline);
  if (control.threads.live() !== 0 || !control.idle.atRest() || !keeper.wanted()) return undefined;
  const parked = workers.detachParkedPool();
  if (!parked) return undefined;
  const main = workers.detachSeatedMain();
  if (parked.length === 0 && !main) return undefined;
  const pool: KeptPool = { control, fdTable, workers: parked, main };
  keeper.keep(pool);
  return pool;
}
