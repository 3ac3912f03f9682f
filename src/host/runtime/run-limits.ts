import { RunAbortedError, RunTimeoutError, type WasiThreadsError } from '../../base/errors.js';
import type { CallOptions } from '../../base/run-options.js';

/**
 * A run's limits, armed from the moment `run()` is called until it settles: its timeout and abort
 * signal. The life of a run and what each stage owns (a limit that fires ends whatever stage the
 * run is in; one that fired between stages is seen by the next stage before it starts):
 *   queued    a place in the queue (left at once)
 *   admitted  a place among maxConcurrentRuns; waiting for the workers of the last run to return
 *   started   a Program with its workers, memory and descriptors (aborted: ended, its workers recalled)
 *   ending    the program has ended: an abort or a timeout changes nothing; a stream that failed
 *             (output delivered as it ended) still fails the run
 *   ended     the place given to the next queued run; the stdio watch and the limits disarmed
 */
export type RunStage = 'admitted' | 'started' | 'ending';

/**
 * @internal For tests only: called as a run enters a stage (after its limits saw the last one);
 * the run goes on once the returned promise settles, so that a test can land a limit exactly there.
 * Unset, it costs one property read a stage.
 */
export const stageHook: { enter?: (stage: RunStage) => Promise<void> } = {};

export class RunLimits {
  /** The first limit that fired. */
  fired: WasiThreadsError | undefined;
  private stage: ((error: WasiThreadsError) => void) | undefined;
  readonly disarm: () => void;

  constructor(options: CallOptions, what: string, startedAt: number) {
    // Its callers refuse an aborted signal before they make one.
    this.disarm = watchLimits(options, what, (error) => this.fail(error), startedAt);
  }

  /** Ends the run with `error` (a limit, or a stream of the caller's that failed), whatever its stage. */
  fail(error: WasiThreadsError): void {
    if (this.fired) return;
    this.fired = error;
    this.stage?.(error);
  }

  /** From now on a limit that fires calls `end`; one that already fired calls it at once. */
  during(end: (error: WasiThreadsError) => void): void {
    this.stage = end;
    if (this.fired) end(this.fired);
  }

  /** Waits for `work`, unless a limit fires first: then rejects with its error. */
  async race<T>(work: Promise<T>): Promise<T> {
    if (this.fired) throw this.fired;
    return await new Promise<T>((resolve, reject) => {
      this.during(reject);
      work.then(resolve, reject);
    }).finally(() => (this.stage = undefined));
  }
}

/**
 * Arms a run's (or a call's) timeout and abort signal: `end` is called with the error once, the
 * returned function disarms both.
 */
export function watchLimits(options: CallOptions, what: string, end: (error: WasiThreadsError) => void, startedAt = performance.now()): () => void {
  const { signal, timeoutMs } = options;
  const onAbort = () => end(new RunAbortedError(signal!.reason, what));
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === undefined ? undefined : setTimeout(() => end(new RunTimeoutError(timeoutMs, what)), Math.max(0, timeoutMs - (performance.now() - startedAt)));
  return () => {
    signal?.removeEventListener('abort', onAbort);
    clearTimeout(timer);
  };
}
