/**
 * The wasm main thread's worker: `_start` (or `initMethod`), or a reactor's `_initialize` and then
 * its calls. A runtime's prepared run takes its orders on the control block's main seat
 * (shared/control/main-seat.ts): `Go` once its instance is made, and, after its entry returned,
 * `Leave`, or `Prepare` for the next run on the same block (a worker kept with the pool).
 */
import { ModuleRequirementError, NO_START } from '../base/errors.js';
import type { SharedControl } from '../shared/control/control.js';
import { SeatOrder } from '../shared/control/main-seat.js';
import { type BootData, errorInfo, MAIN_THREAD_ID } from '../shared/messages.js';
import type { SharedWasi } from '../wasi/preview1.js';
import { ProcExit, type WasiLike } from './wasi-imports.js';
import type { WorkerConfig } from './worker-config.js';
import { configFromInbox, leave, reportAbnormalEnd, type WorkerLink } from './worker-link.js';

/** What a runtime's main thread worker, kept on its seat, does for the next run on its block. */
export interface SeatedRuns {
  /**
   * The instance for the run the block serves now, reset or made anew: its WASI readied for that
   * run and the memory zeroed before. Undefined when it could not be readied (reported).
   */
  prepare(): WebAssembly.Instance | undefined;
  /** Ordered to `Prepare`, before it does: its share of collections for the run before (garbage.ts), as its loop does after a program. */
  afterRun(): void;
}

export function runMainThread(
  boot: BootData,
  control: SharedControl,
  instance: WebAssembly.Instance,
  config: WorkerConfig,
  wasi: WasiLike,
  link: WorkerLink,
  seated?: SeatedRuns,
): void {
  if (!boot.awaitGo || !link.next) {
    const exports = instance.exports as Record<string, unknown>;
    if (!boot.initMethod && !config.noWasiStart && !config.wasi?.start && typeof exports._start !== 'function') {
      // A module that cannot run as configured: not a trap of the program.
      link.post({ type: 'fatal', error: errorInfo(new ModuleRequirementError(NO_START)) });
      return leave(link);
    }
    link.post({ type: 'ready' });
    // The program starts now, while the pool may still be starting: a spawn that finds no idle
    // worker waits for the first pool worker to come up (see thread-spawn.ts).
    const code = runEntry(boot, instance, config, link);
    if (code !== undefined) link.post({ type: 'main-done', code, destroyWhenEnd: config.destroyWhenEnd ?? true });
    return;
  }
  const next = link.next;
  /** A `Go` that came before the worker took the `Prepare` it replaced: the run starts once prepared. */
  let early: SeatOrder | undefined;
  for (;;) {
    link.post({ type: 'ready' });
    const go = early ?? control.seat.take();
    early = undefined;
    if (go !== SeatOrder.Go && go !== SeatOrder.GoReactor) return leave(link);
    const run = control.threads.currentRun();
    // A config too large for the seat's area comes in the inbox, sent before the order.
    (wasi as SharedWasi).configure(control.seat.config() ?? configFromInbox(next, run));
    if (go === SeatOrder.GoReactor) return serveCalls(run, instance.exports as Record<string, unknown>, link);
    // A kept worker's entry that ends in proc_exit ends as one that returned: the exit was reported
    // when it was called, and the worker, out of the program's wasm once the exit has unwound, takes its seat.
    const code = runEntry(boot, instance, config, link, seated !== undefined);
    if (code === undefined) return;
    link.post({ type: 'main-done', code, destroyWhenEnd: config.destroyWhenEnd ?? true });
    // Out of the program's wasm: the coordinator may end the run now, and keep this worker for the next.
    // Left, it collects in its loop, after it said it is free (the run's end does not wait for that).
    if (!seated) return leave(link);
    const order = control.seat.take();
    if (order === SeatOrder.Leave) return leave(link);
    seated.afterRun();
    const made = seated.prepare();
    if (!made) return leave(link);
    instance = made;
    if (order !== SeatOrder.Prepare) early = order;
  }
}

/**
 * Runs the program's entry: its exit code, or undefined when it ended abnormally (reported, and the
 * worker left). With `exitReturns`, an entry that ended in proc_exit gives the exit's code instead.
 */
function runEntry(boot: BootData, instance: WebAssembly.Instance, config: WorkerConfig, link: WorkerLink, exitReturns = false): number | undefined {
  const exports = instance.exports as Record<string, unknown>;
  try {
    if (boot.initMethod) {
      const result = (exports[boot.initMethod] as () => unknown)();
      return typeof result === 'number' ? result : 0;
    }
    if (!config.noWasiStart) {
      if (config.wasi?.start) return Number(config.wasi.start(instance) ?? 0);
      (exports._start as () => void)();
    }
    return 0;
  } catch (error) {
    if (exitReturns && error instanceof ProcExit) return error.code;
    reportAbnormalEnd(link, MAIN_THREAD_ID, error);
    return undefined;
  }
}

/** A reactor instance's main thread: `_initialize` once, then the calls that come, one at a time. */
function serveCalls(run: number, exports: Record<string, unknown>, link: WorkerLink): void {
  try {
    if (typeof exports._initialize === 'function') (exports._initialize as () => void)();
  } catch (error) {
    return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
  }
  link.post({ type: 'initialized' });
  for (;;) {
    const call = link.next!((m) => (m.type === 'call' || m.type === 'end') && m.run === run);
    if (call.type !== 'call') return leave(link);
    let value: unknown;
    try {
      value = (exports[call.name] as (...args: unknown[]) => unknown)(...call.args);
    } catch (error) {
      return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
    }
    link.post({ type: 'call-done', id: call.id, value });
  }
}
