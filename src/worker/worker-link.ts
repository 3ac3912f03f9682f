/**
 * A worker's link to its coordinator: the messages it posts, and, for a runtime's worker, its
 * inbox. How a worker leaves a program: a runtime's worker returns to its loop for the next one,
 * any other blocks until the coordinator ends it.
 */
import { TRACE, trace } from '../base/trace.js';
import { errorInfo, type InboxMessage, type RunConfig, type WorkerMessage } from '../shared/messages.js';
import { ProcExit } from './wasi-imports.js';

/** How a worker talks to its coordinator, and whether it outlives its program (a runtime's worker). */
export interface WorkerLink {
  post(message: WorkerMessage): void;
  /** A runtime's worker: the next inbox message that `accept` takes (others are stale and dropped). */
  next?: (accept: (message: InboxMessage) => boolean) => InboxMessage;
}

/** A runtime's worker: run `run`'s config from its inbox (a `config` message), waiting for it. */
export function configFromInbox(next: NonNullable<WorkerLink['next']>, run: number): RunConfig {
  return (next((m) => m.type === 'config' && m.run === run) as Extract<InboxMessage, { type: 'config' }>).config;
}

/** Blocks this worker for good; the coordinator is already ending the program and will terminate it. */
export function halt(): never {
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

/**
 * This worker is done with its program: a runtime's worker returns (every caller returns at once,
 * back to the loop that waits for the next program), any other waits to be ended.
 */
export function leave(link: WorkerLink): void {
  if (!link.next) halt();
}

/** Reports how thread `tid` ended abnormally. proc_exit was reported when it was called. */
export function reportAbnormalEnd(link: WorkerLink, tid: number, error: unknown): void {
  if (TRACE) trace(error instanceof ProcExit ? `thread ${tid} left by proc_exit` : `thread ${tid} trapped: ${String(error)}`);
  if (!(error instanceof ProcExit)) link.post({ type: 'trap', tid, error: errorInfo(error) });
  leave(link);
}
