/** The wasm main thread's worker: `_start` (or `initMethod`), or a reactor's `_initialize` and then its calls. */
import { ModuleRequirementError, NO_START } from '../base/errors.js';
import { type BootData, errorInfo } from '../shared/messages.js';
import type { SharedWasi } from '../wasi/preview1.js';
import type { WasiLike } from './wasi-imports.js';
import type { WorkerConfig } from './worker-config.js';
import { leave, MAIN_THREAD_ID, reportAbnormalEnd, type WorkerLink } from './worker-link.js';

export function runMainThread(boot: BootData, instance: WebAssembly.Instance, config: WorkerConfig, wasi: WasiLike, link: WorkerLink): void {
  const exports = instance.exports as Record<string, unknown>;
  let reactor = false;
  if (boot.awaitGo && link.next) {
    link.post({ type: 'ready' });
    const go = link.next((m) => (m.type === 'go' || m.type === 'end') && m.run === boot.run);
    if (go.type !== 'go') return leave(link);
    (wasi as SharedWasi).configure(go.config);
    reactor = go.reactor;
  } else {
    if (!boot.initMethod && !config.noWasiStart && !config.wasi?.start && typeof exports._start !== 'function') {
      // A module that cannot run as configured: not a trap of the program.
      link.post({ type: 'fatal', error: errorInfo(new ModuleRequirementError(NO_START)) });
      return leave(link);
    }
    link.post({ type: 'ready' });
  }
  // The program starts now, while the pool may still be starting: a spawn that finds no idle
  // worker waits for the first pool worker to come up (see thread-spawn.ts).
  if (reactor) return serveCalls(boot, exports, link);
  let code = 0;
  try {
    if (boot.initMethod) {
      const result = (exports[boot.initMethod] as () => unknown)();
      if (typeof result === 'number') code = result;
    } else if (!config.noWasiStart) {
      if (config.wasi?.start) code = Number(config.wasi.start(instance) ?? 0);
      else (exports._start as () => void)();
    }
  } catch (error) {
    return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
  }
  link.post({ type: 'main-done', code, destroyWhenEnd: config.destroyWhenEnd ?? true });
}

/** A reactor instance's main thread: `_initialize` once, then the calls that come, one at a time. */
function serveCalls(boot: BootData, exports: Record<string, unknown>, link: WorkerLink): void {
  try {
    if (typeof exports._initialize === 'function') (exports._initialize as () => void)();
  } catch (error) {
    return reportAbnormalEnd(link, MAIN_THREAD_ID, error);
  }
  link.post({ type: 'initialized' });
  for (;;) {
    const call = link.next!((m) => (m.type === 'call' || m.type === 'end') && m.run === boot.run);
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
